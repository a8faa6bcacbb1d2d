"""The demo's agent workflow, built from the framework's own primitives.

For every task, a few at a time (a ``MapPrimitive``, one span per task named after its
id and title)::

    estimate complexity >> find related code >> draft the first step >> write the plan

* finding related code is an agent's work (:mod:`tta_cli.demo.research`): the model
  searches the installed TTA.dev sources through a tool, one of the task's words at a
  time; if it finds nothing, a fixed scan of the sources for the task's words stands in
  (cached, as tasks share terms, time-bounded, retried, empty as the last resort);
* the first step is drafted by ``UniversalLLMPrimitive``, which routes the task to a
  model by its complexity under the budget profile (on a machine with no keys: the
  local SmolLM2 model, $0), bounded by a timeout, retried on transient provider
  errors, cached, and replaced by a rule-based step if no model answers; a bulkhead
  keeps at most ``max_model_calls`` model calls in flight, whatever the tasks do.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from tta_cli.demo.backlog import Task
from tta_cli.demo.research import research_agent, run_research
from tta_dev_integrations.llm import TRANSIENT_ERRORS, LLMError, LLMResponse, Usage
from tta_dev_integrations.llm.budget.ledger import SpendSummary, current_month
from tta_dev_integrations.llm.complexity import estimate_complexity
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import (
    BulkheadPrimitive,
    CachePrimitive,
    FallbackPrimitive,
    LambdaPrimitive,
    MapPrimitive,
    PrimitiveTimeoutError,
    RetryPrimitive,
    SequentialPrimitive,
    TimeoutPrimitive,
    WorkflowContext,
    WorkflowPrimitive,
)

__all__ = [
    "DemoOutcome",
    "DemoSettings",
    "TaskResult",
    "build_workflow",
    "run_demo",
    "task_span_name",
]

RULES_MODEL = "rules"
_STOPWORDS = frozenset(
    "a an and be for from in is it its make of see should sure the to use with".split()  # noqa: SIM905
)
_SYSTEM = "You are a senior engineer. Answer with one short imperative sentence."


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """How the demo routes and bounds its model calls."""

    profile: str = "careful"
    monthly_limit: float | None = 5.0
    scope: str = "demo"
    llm_timeout_s: float = 60.0
    max_tokens: int = 32
    #: Tasks in flight at once, and model calls in flight at once (all tasks together).
    max_concurrency: int = 4
    max_model_calls: int = 2


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What the workflow made of one task, and how (for the table)."""

    task: Task
    complexity: str = "low"
    complexity_reasons: tuple[str, ...] = ()
    related: tuple[str, ...] = ()
    model: str = "-"
    provider: str = "-"
    why: str = ""
    tokens: int = 0
    cost_usd: float = 0.0
    cost_estimated: bool = False
    latency_s: float = 0.0
    outcome: str = "ok"
    plan: tuple[str, ...] = ()
    #: The research agent's steps (``search(term) -> files``), in order.
    research: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DemoOutcome:
    """A finished run: one result per task, the time it took and the budget after it."""

    results: list[TaskResult]
    seconds: float
    summary: SpendSummary | None
    calls_this_month: int = 0
    notes: list[str] = field(default_factory=list)
    #: The run's own monthly cap (``--monthly-limit``); a limit stored in the ledger caps
    #: the scope too, and the smaller holds.
    run_limit_usd: float | None = None

    @property
    def limit_usd(self) -> float | None:
        """The limit in force for the scope during the run: the smaller of the two."""
        stored = None
        if self.summary is not None and self.summary.limit_micros is not None:
            stored = self.summary.limit_micros / 1e6
        limits = [limit for limit in (stored, self.run_limit_usd) if limit is not None]
        return min(limits) if limits else None


def _terms(task: Task) -> list[str]:
    words = re.findall(r"[A-Za-z][A-Za-z_]{3,}", task.text)
    return sorted({w.lower() for w in words} - _STOPWORDS)[:8]


@cache
def _read_sources() -> tuple[tuple[str, str], ...]:
    import tta_dev_integrations
    import tta_dev_primitives

    sources = []
    for package in (tta_dev_primitives, tta_dev_integrations):
        root = Path(str(package.__file__)).parent
        for path in sorted(root.rglob("*.py")):
            text = path.read_text(encoding="utf-8", errors="replace").lower()
            sources.append((f"{root.name}/{path.relative_to(root)}", text))
    return tuple(sources)


_read_lock = threading.Lock()


def _source_texts() -> tuple[tuple[str, str], ...]:
    """TTA.dev's installed sources, lower-cased, read once per process.

    All tasks search at the same time; the first reader holds the others until it is done.
    """
    with _read_lock:
        return _read_sources()


def _scan_sources(terms: Sequence[str]) -> tuple[str, ...]:
    """The three source files of TTA.dev that mention the most of ``terms`` (blocking)."""
    hits: Counter[str] = Counter()
    for name, text in _source_texts():
        hits[name] = sum(term in text for term in terms)
    return tuple(name for name, count in hits.most_common(3) if count)


async def _search(terms: list[str]) -> tuple[str, ...]:
    return await asyncio.to_thread(_scan_sources, terms)


async def _no_related_code(terms: list[str]) -> tuple[str, ...]:
    return ()


async def _rule_based_step(request: dict[str, Any]) -> LLMResponse:
    """The first step when no model could draft one."""
    return LLMResponse(
        "outline the change", model=RULES_MODEL, provider="none", usage=Usage(), routing=None
    )


def _first_line(text: str) -> str:
    lines = (raw.strip(" -*#0123456789.)\"'") for raw in text.splitlines())
    line = next((candidate for candidate in lines if candidate), "")
    return (line or "outline the change")[:72]


def _plan(result: TaskResult, first_step: str) -> tuple[str, ...]:
    steps = [first_step]
    steps += [f"read {name}" for name in result.related[:2]]
    if result.complexity == "high":
        steps = ["write a short design note", *steps]
    steps += ["write a failing test", "change the code"]
    if result.complexity == "high":
        steps.append("benchmark the hot path")
    return (*steps, "run the test suite")


def task_span_name(task: Task) -> str:
    """The span of one task's run: ``task T3: Add retry to the fetcher``."""
    title = task.title if len(task.title) <= 48 else task.title[:47] + "..."
    return f"task {task.id}: {title}"


def build_workflow(
    model: WorkflowPrimitive[dict[str, Any], LLMResponse],
    settings: DemoSettings,
    on_done: Callable[[TaskResult], None] | None = None,
) -> WorkflowPrimitive[list[Task], list[TaskResult]]:
    """The triage workflow: every task through the same steps, a few tasks at a time.

    ``model`` drafts each task's first step (a ``UniversalLLMPrimitive`` in ``tta demo``;
    any primitive that answers an LLM request, such as a test double, in tests).
    """
    related_code = FallbackPrimitive(
        CachePrimitive(
            RetryPrimitive(TimeoutPrimitive(_search, 10.0, name="search"), max_attempts=2),
            key=lambda terms: " ".join(terms[:4]),
            name="search-cache",
        ),
        [LambdaPrimitive(_no_related_code, name="no-search")],
        name="related-code",
    )
    model_calls = BulkheadPrimitive(model, settings.max_model_calls, name="model-calls")
    draft_first_step = CachePrimitive(
        FallbackPrimitive(
            RetryPrimitive(
                TimeoutPrimitive(
                    model_calls,
                    settings.llm_timeout_s,
                    name="draft-timeout",
                ),
                max_attempts=2,
                retry_on=TRANSIENT_ERRORS,
                name="draft-retry",
            ),
            [LambdaPrimitive(_rule_based_step, name="rule-based")],
            fallback_on=(LLMError, PrimitiveTimeoutError, TimeoutError),
            name="first-step",
        ),
        key=lambda request: f"{request['complexity']}|{request['prompt']}",
        name="draft-cache",
    )

    async def estimate(task: Task) -> TaskResult:
        guess = estimate_complexity(task.text)
        return TaskResult(task, complexity=guess.tier, complexity_reasons=guess.reasons)

    async def find_related(result: TaskResult, ctx: WorkflowContext) -> TaskResult:
        terms = _terms(result.task)
        found = None
        if terms:
            options = {"temperature": 0, "complexity": "low", "scope": settings.scope}
            agent = research_agent(
                model_calls, terms, _source_texts, options, settings.llm_timeout_s
            )
            found = await run_research(agent, result.task.text, ctx)
        files = found.files if found and found.files else await related_code.execute(terms, ctx)
        return replace(result, related=tuple(files), research=found.steps if found else ())

    async def draft(result: TaskResult, ctx: WorkflowContext) -> TaskResult:
        request = {
            "system": _SYSTEM,
            "prompt": f"First step to do this task: {result.task.text}",
            "max_tokens": settings.max_tokens,
            "temperature": 0,
            "complexity": result.complexity,
            "scope": settings.scope,
        }
        started = time.perf_counter()
        response = await draft_first_step.execute(request, ctx)
        routing = response.routing
        fell_back = response.model == RULES_MODEL
        result = replace(
            result,
            model=response.model if fell_back else (routing.chosen if routing else response.model),
            provider=response.provider,
            why="no model answered: rule-based step" if fell_back else _why(routing),
            tokens=response.usage.total_tokens,
            cost_usd=response.cost_usd,
            cost_estimated=response.cost_estimated,
            latency_s=response.latency_s or time.perf_counter() - started,
            outcome="fallback" if fell_back else "ok",
        )
        return replace(result, plan=_plan(result, _first_line(response.content)))

    async def report(result: TaskResult) -> TaskResult:
        if on_done is not None:
            on_done(result)
        return result

    steps: list[WorkflowPrimitive[Any, Any]] = [
        LambdaPrimitive(estimate, name="estimate-complexity"),
        LambdaPrimitive(find_related, name="find-related-code"),
        LambdaPrimitive(draft, name="draft-plan"),
        LambdaPrimitive(report, name="report"),
    ]

    return MapPrimitive(
        SequentialPrimitive(steps, name="task"),
        max_concurrency=settings.max_concurrency,
        item_name=task_span_name,
        name="triage",
    )


def _why(routing: Any) -> str:
    """The routing decision in a few words (``response.routing.reason`` has them all)."""
    if routing is None:
        return ""
    tier = routing.complexity
    short = {
        "best_available": f"best available; none meets the {tier} bar",
        "best_value_meeting_bar": f"best quality per cost meeting the {tier} bar",
        "explore": "exploring a model the router is unsure of",
        "best": f"best expected quality for {tier}",
    }
    return short.get(routing.reason_code, str(routing.reason))


async def run_demo(
    tasks: list[Task],
    settings: DemoSettings,
    *,
    universal: UniversalLLMPrimitive | None = None,
    on_done: Callable[[TaskResult], None] | None = None,
) -> DemoOutcome:
    """Triage ``tasks`` and read the budget afterwards."""
    universal = universal or UniversalLLMPrimitive(
        budget_profile=settings.profile,
        monthly_limit=settings.monthly_limit,
        scope=settings.scope,
        name="router",
    )
    workflow = build_workflow(universal, settings, on_done)
    started = time.perf_counter()
    try:
        results = await workflow.execute(tasks, WorkflowContext(workflow_id="tta-demo"))
        seconds = time.perf_counter() - started
        summary, calls, notes = await _budget(universal, settings.scope)
    finally:
        await universal.ledger.close()
    return DemoOutcome(list(results), seconds, summary, calls, notes, settings.monthly_limit)


async def _budget(
    universal: UniversalLLMPrimitive, scope: str
) -> tuple[SpendSummary | None, int, list[str]]:
    month = current_month()
    try:
        summary = await universal.ledger.summary(scope, month)
        entries = await universal.ledger.entries(scope, month)
    except LLMError as error:
        return None, 0, [f"the spend ledger could not be read: {error}"]
    return summary, len(entries), []
