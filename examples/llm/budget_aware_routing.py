"""Budget-aware routing: the same tasks under the free, careful and unlimited profiles.

Part 1 asks the router (`llm.plan`, a dry run: nothing is sent, nothing recorded) which
model each task would get if every provider's key were configured, under each
profile, and why; it shows where a paid model needs a justification and when one
is refused. Part 2 runs the same tasks for real through `UniversalLLMPrimitive`, with
the cloud providers switched off, so the local model (SmolLM2 through llama.cpp: no
key, no network, $0) serves every call; the spend ledger is a throwaway file.

Run it with `python examples/llm/budget_aware_routing.py` (a few seconds).
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from tta_dev_integrations.llm import (
    LLMRequest,
    Provider,
    ProviderUnavailableError,
    UniversalLLMPrimitive,
    load_catalog,
)
from tta_dev_integrations.llm.budget.ledger import current_month
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.providers.base import Reply, StreamPiece
from tta_dev_integrations.llm.routing import NOT_JUSTIFIED
from tta_dev_primitives import WorkflowContext

FREE = ["kimi", "deepseek", "llama-3.3-70b", "local"]
PAID = ["gpt-4o-mini", "claude-haiku-4.5", "claude-sonnet-4.5"]
PROFILES = ["free", "careful", "unlimited"]
# Part 1 also shows "unlimited" near the end of the month: $0.005 left under the limit.
ROWS = [(p, None) for p in PROFILES] + [("unlimited", 0.005)]
PROVIDERS = {load_catalog()[a].provider for a in FREE + PAID}
MAX_TOKENS = 512
DESIGN = "Design the security architecture of a distributed job queue"
JUSTIFIED = {
    "reason": "a security design must not miss a threat",
    "free_alternatives_tried": ["kimi"],
    "expected_quality_delta": "+12%",
}
# Each task: (id, prompt, justification or None). Complexity is estimated from the prompt.
TASKS = [
    ("T1", "Fix the typo in the README heading", None),
    ("T2", "Refactor the retry loop to support concurrency limits", None),
    ("T3", DESIGN, None),
    ("T4", DESIGN, JUSTIFIED),
    ("T5", DESIGN, {**JUSTIFIED, "free_alternatives_tried": ["gpt-4o"]}),
]


class Configured(Provider):
    """A provider with its key set, as far as routing can tell; part 1 only plans with it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def is_configured(self) -> bool:
        return True

    async def complete(self, request: LLMRequest, model_id: str) -> Reply:
        raise ProviderUnavailableError("part 1 only plans", provider=self.name)

    def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        raise ProviderUnavailableError("part 1 only plans", provider=self.name)


async def planned(
    ledger: SQLiteLedger,
    prompt: str,
    justification: Mapping[str, object] | None,
    profile: str,
    left: float | None,
) -> tuple[str, str]:
    """The tier, and the router's choice with every key configured, in one line.

    ``llm.plan`` is the decision ``execute`` would make, with nothing called or written.
    """
    llm = UniversalLLMPrimitive(
        coder="none",
        budget_profile=profile,
        monthly_limit=left,  # None: no monthly limit
        free_models=FREE,
        paid_models=PAID,
        ledger=ledger,
        providers={name: Configured(name) for name in PROVIDERS},
    )
    request: dict[str, object] = {"prompt": prompt, "max_tokens": MAX_TOKENS}
    if justification is not None:
        request["justification"] = justification
    decision = await llm.plan(request, WorkflowContext(workflow_id="budget-aware-routing"))
    chosen = next(c for c in decision.candidates if c.model == decision.chosen)
    held_back = any(c.reason == NOT_JUSTIFIED for c in decision.candidates)
    if held_back and justification is None:
        note = "paid model held back: no justification"
    elif held_back:
        note = f"refused: {decision.justification_problems[0]}"
    elif not chosen.free:
        needed = "justification accepted" if profile == "careful" else "no justification needed"
        note = f"paid (worst case ${chosen.worst_case_usd:.4f}), {needed}"
        cap = decision.max_output_tokens
        if cap is not None and cap < MAX_TOKENS:  # the answer is cut to fit the money left
            note += f"; answer capped at {cap} tokens"
    else:
        note = decision.reason.split(" (")[0]
        dropped = [c for c in decision.candidates if "exceeds" in c.reason]
        note += f"; {len(dropped)} paid too dear" if dropped else ""
    return decision.complexity, f"{decision.chosen:<18}{note}"


class SwitchedOff(Provider):
    """A cloud provider this example never calls: routing sees it as not available."""

    def __init__(self, name: str) -> None:
        self.name = name

    def is_configured(self) -> bool:
        return False

    async def complete(self, request: LLMRequest, model_id: str) -> Reply:
        raise ProviderUnavailableError("switched off by the example", provider=self.name)

    def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        raise ProviderUnavailableError("switched off by the example", provider=self.name)


async def run_locally(ledger: SQLiteLedger) -> None:
    """Every task under every profile, for real; only the local model is reachable."""
    cloud = PROVIDERS - {"local"}
    ctx = WorkflowContext(workflow_id="budget-aware-routing")
    print(f"{'task':<6}" + "".join(f"{p:<14}" for p in PROFILES) + "answer (careful)")
    for task_id, prompt, justification in TASKS:
        cells, answer = [], ""
        for profile in PROFILES:
            llm = UniversalLLMPrimitive(
                coder="none",  # no coding-assistant preferences: the same order everywhere
                budget_profile=profile,
                free_models=FREE,
                paid_models=PAID,
                ledger=ledger,
                providers={name: SwitchedOff(name) for name in cloud},
            )
            request = {"prompt": prompt, "max_tokens": 16, "temperature": 0}
            if justification:
                request["justification"] = justification
            response = await llm.execute(request, ctx)
            cells.append(f"{response.model} {response.latency_s:.1f}s")
            if profile == "careful":
                answer = " ".join(response.content.split())[:40]
        print(f"{task_id:<6}" + "".join(f"{c:<14}" for c in cells) + repr(answer))
    assert response.routing is not None
    # By now the ledger has seen local serve 14 calls, none of them judged: its quality is
    # still the catalog's prior (only judged answers move it; see routing.expected_quality).
    print(f"\nwhy, for T5 under unlimited: {response.routing.reason}")
    dropped = {c.model: c.reason for c in response.routing.candidates if not c.kept}
    print(f"  claude-sonnet-4.5 was dropped: {dropped['claude-sonnet-4.5']}")


async def main() -> int:
    print("1. Decisions with every key configured (the router's dry run; nothing sent)\n")
    with tempfile.TemporaryDirectory(prefix="tta-example-") as home:
        ledger = SQLiteLedger(Path(home) / "ledger.db")  # throwaway: yours stays untouched
        try:
            for task_id, prompt, justification in TASKS:
                rows = [await planned(ledger, prompt, justification, p, left) for p, left in ROWS]
                print(f'{task_id} {rows[0][0]}: "{prompt}"')
                if justification is not None:
                    reason, tried, delta = justification.values()
                    print(f"   justified: {reason!r}, tried {', '.join(tried)}, expects {delta}")
                for (profile, left), (_, row) in zip(ROWS, rows, strict=True):
                    label = profile if left is None else f"{profile}*"
                    print(f"   {label:<11}{row}")
            print(f"   * with ${ROWS[-1][1]} left under the monthly limit")
            print("\n2. The same tasks, run for real: the cloud providers are switched off,")
            print("   so the local model serves every call ($0, on this machine)\n")
            await run_locally(ledger)
            entries = await ledger.entries("default", current_month())
            spent = sum(e.actual_micros for e in entries) / 1e6
            print(f"\nthe ledger recorded {len(entries)} calls, ${spent:.2f} spent")
        finally:
            await ledger.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
