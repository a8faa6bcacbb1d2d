"""Backlog triage: the main job until the `tta` command lands (then it is `tta demo`).

For each task of a small backlog it estimates the complexity, routes the task to
a planner for that complexity, searches this repository for related code (cached,
retried, time-bounded, with a fallback), and has the local model (SmolLM2 through
llama.cpp: no key, no network, $0) draft the plan's first step, falling back to a
rule-based step if the model is missing or slow. All tasks run at once. At the end
it prints a table, the span tree of one task and the metrics it emitted.

Run it with `make demo`, or `python examples/quickstart/triage.py [BACKLOG.json]`.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tta_dev_integrations.llm import LLMError, LLMPrimitive, LLMResponse, Usage
from tta_dev_primitives import (
    CachePrimitive,
    FallbackPrimitive,
    LambdaPrimitive,
    ParallelPrimitive,
    RetryPrimitive,
    RouterPrimitive,
    SequentialPrimitive,
    TimeoutPrimitive,
    WorkflowContext,
    WorkflowPrimitive,
)
from tta_dev_primitives.observability import METRICS
from tta_dev_primitives.testing import capture_spans, metric_value

ROOT = Path(__file__).resolve().parents[2]
BACKLOG = Path(__file__).with_name("backlog.json")
STOPWORDS = frozenset(
    "a an and be for from in is it its make of see should sure the to use with".split()  # noqa: SIM905
)
HARD_WORDS = {"design", "architecture", "refactor", "migrate", "security", "audit", "protocol"}
EASY_WORDS = {"typo", "rename", "readme", "mention", "docstring"}

Task = dict[str, Any]


async def estimate_complexity(task: Task) -> Task:
    """Rule-based guess: length, hard/easy vocabulary, and code identifiers."""
    text = f"{task['title']} {task['body']}".lower()
    words = set(re.findall(r"[a-z_]+", text))
    identifiers = re.findall(r"\b[A-Z][a-z]+[A-Z]\w+", task["body"])
    score = len(text) / 80 + 2 * len(words & HARD_WORDS) + 0.5 * len(identifiers)
    score -= 2 * len(words & EASY_WORDS)
    level = "high" if score >= 3 else "medium" if score >= 1 else "low"
    return {**task, "complexity": level, "score": round(score, 1)}


def keywords(task: Task) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z_]{3,}", f"{task['title']} {task['body']}")
    return sorted({w.lower() for w in words} - STOPWORDS)[:8]


def scan_repository(terms: list[str]) -> list[str]:
    """Files of this repository that mention the most terms (a blocking scan)."""
    hits: Counter[str] = Counter()
    for path in sorted(ROOT.glob("packages/*/src/**/*.py")):
        text = path.read_text(encoding="utf-8", errors="replace").lower()
        hits[str(path.relative_to(ROOT))] = sum(term in text for term in terms)
    return [name for name, count in hits.most_common(3) if count]


async def search_code(terms: list[str]) -> list[str]:
    return await asyncio.to_thread(scan_repository, terms)


async def no_related_code(terms: list[str]) -> list[str]:
    return []


# Searching is I/O: cache it (tasks share terms), bound it, retry it, and fall back.
related_code = FallbackPrimitive(
    CachePrimitive(
        RetryPrimitive(TimeoutPrimitive(search_code, 5.0, name="search"), max_attempts=2),
        key=lambda terms: " ".join(terms[:3]),
        name="search-cache",
    ),
    [LambdaPrimitive(no_related_code, name="no-search")],
    name="related-code",
)


async def quick_plan(task: Task) -> Task:
    return {
        **task,
        "files": [],
        "plan": ["make the change", "run `make test`"],
        "model": "-",
        "tokens": 0,
        "cost": 0.0,
    }


async def rule_based_step(request: dict[str, Any]) -> LLMResponse:
    """What the plan starts with when no model can draft it."""
    return LLMResponse("outline the change", model="rules", provider="none", usage=Usage())


# The local model drafts the first step; bounded in time, cached, with a rule as fallback.
draft_first_step = CachePrimitive(
    FallbackPrimitive(
        TimeoutPrimitive(LLMPrimitive("local"), 30.0, name="draft"),
        [LambdaPrimitive(rule_based_step, name="rule-based")],
        fallback_on=(LLMError, TimeoutError),
        name="first-step",
    ),
    name="draft-cache",
)


def first_line(text: str) -> str:
    line = next((raw.strip(" -*#0123456789.)") for raw in text.splitlines() if raw.strip()), "")
    return (line or "outline the change")[:70]


async def researched_plan(task: Task, ctx: WorkflowContext) -> Task:
    files = await related_code.execute(keywords(task), ctx)
    draft = await draft_first_step.execute(
        {
            "system": "You are a senior engineer. Answer with one short imperative sentence.",
            "prompt": f"First step to do this task: {task['title']}. {task['body']}",
            "max_tokens": 32,
            "temperature": 0,
        },
        ctx,
    )
    steps = [first_line(draft.content)]
    steps += [f"read {f}" for f in files[:2]] + ["write a failing test", "change the code"]
    if task["complexity"] == "high":
        steps = ["write a short design note", *steps, "benchmark the hot path"]
    return {
        **task,
        "files": files,
        "plan": [*steps, "run `make test`"],
        "model": draft.model,
        "tokens": draft.usage.total_tokens,
        "cost": draft.cost_usd,
    }


planner = RouterPrimitive(
    {"low": quick_plan, "medium": researched_plan, "high": researched_plan},
    route=lambda task: task["complexity"],
    name="planner",
)
triage_one: WorkflowPrimitive[Task, Task] = LambdaPrimitive(estimate_complexity) >> planner


def for_each_task(backlog: list[Task]) -> ParallelPrimitive[list[Task]]:
    """One branch per task: every branch receives the backlog and picks its own task."""

    def branch(index: int) -> WorkflowPrimitive[list[Task], Task]:
        async def pick(tasks: list[Task]) -> Task:
            return tasks[index]

        return SequentialPrimitive([pick, triage_one], name="task")

    return ParallelPrimitive([branch(i) for i in range(len(backlog))], name="triage")


def render(results: list[Task], seconds: float) -> None:
    print(f"{'task':<5}{'complexity':<11}{'steps':<6}{'model':<7}{'tokens':>6}  {'cost':<7}related")
    print("-" * 78)
    for r in results:
        files = ", ".join(Path(f).name for f in r["files"]) or "-"
        print(
            f"{r['id']:<5}{r['complexity']:<11}{len(r['plan']):<6}{r['model']:<7}"
            f"{r['tokens']:>6}  ${r['cost']:<6.2f}{files[:34]}"
        )
    print("-" * 78)
    levels = Counter(r["complexity"] for r in results)
    print(
        f"{len(results)} tasks triaged in {seconds * 1000:.0f} ms: "
        + ", ".join(f"{levels[k]} {k}" for k in ("low", "medium", "high"))
    )


async def main(backlog: list[Task]) -> int:
    workflow = for_each_task(backlog)
    ctx = WorkflowContext(workflow_id="triage-demo")
    with capture_spans() as spans:
        started = time.perf_counter()
        results = await workflow.execute(backlog, ctx)
        elapsed = time.perf_counter() - started
    render(results, elapsed)

    # A second pass, as after editing one task: the repository searches are cached.
    started = time.perf_counter()
    await workflow.execute(backlog, ctx.child(pass_number=2))
    print(f"second pass: {(time.perf_counter() - started) * 1000:.0f} ms (searches cached)")

    hardest = max(results, key=lambda r: r["score"])
    print(f"\nplan for {hardest['id']} ({hardest['title']}):")
    for number, step in enumerate(hardest["plan"], 1):
        print(f"  {number}. {step}")

    tree = spans.tree()
    starts = [i for i, line in enumerate(tree) if line == "  task"] + [len(tree)]
    k = results.index(hardest)
    print(f"\n{len(spans.spans)} spans in the first pass; the branch of {hardest['id']}:")
    print("\n".join("  " + line for line in tree[starts[k] : starts[k + 1]]))

    cache = {"primitive": "search-cache"}
    print(
        "\nmetrics: "
        f"{metric_value('tta_cache_hits_total', **cache):.0f} cache hits, "
        f"{metric_value('tta_cache_misses_total', **cache):.0f} misses, "
        f"{metric_value('tta_cache_coalesced_total', **cache):.0f} coalesced; "
        f"{len(METRICS)} metric families declared (tta_primitive_*, tta_cache_*, ...)"
    )
    return 0


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else BACKLOG
    raise SystemExit(asyncio.run(main(json.loads(path.read_text(encoding="utf-8")))))
