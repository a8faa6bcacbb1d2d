"""UniversalLLMPrimitive.plan: the decision execute would make, with nothing called or written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stated_catalog import stated_catalog
from tta_dev_integrations.llm import LLMRequest, Provider, UniversalLLMPrimitive, Usage
from tta_dev_integrations.llm.budget.ledger import current_month
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.prompt_signal import PromptScorer
from tta_dev_integrations.llm.providers.base import Reply, StreamPiece
from tta_dev_primitives import WorkflowContext

JUSTIFIED = {
    "reason": "Dashboard requires complex visualization logic",
    "free_alternatives_tried": ["kimi"],
    "expected_quality_delta": "+30%",
}


class Counting(Provider):
    """A configured provider that answers, and counts what reached it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[str] = []
        self.probes = 0

    def is_configured(self) -> bool:
        return True

    async def is_available(self, probe_timeout_s: float = 0.5) -> bool:
        self.probes += 1
        return True

    async def complete(self, request: LLMRequest, model_id: str) -> Reply:
        self.calls.append(model_id)
        return Reply("answer", "stop", Usage(20, 10))

    async def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        self.calls.append(model_id)
        yield StreamPiece("answer", Usage(20, 10), "stop", done=True)


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SQLiteLedger]:
    opened = SQLiteLedger(tmp_path / "ledger.db")
    yield opened
    await opened.close()


def universal(ledger: SQLiteLedger, providers: dict[str, Counting], **options: Any) -> Any:
    settings: dict[str, Any] = {
        "coder": "none",
        "budget_profile": "careful",
        "monthly_limit": 5.0,
        "free_models": ["kimi"],
        "paid_models": ["gpt-4.1"],
        "ledger": ledger,
        "providers": providers,
        "catalog": stated_catalog(),  # kimi under gpt-4.1 on the high tier, as stated there
    }
    settings.update(options)
    return UniversalLLMPrimitive(**settings)


@pytest.fixture
def providers() -> dict[str, Counting]:
    return {"openrouter": Counting("openrouter"), "openai": Counting("openai")}


@pytest.mark.parametrize(
    ("extra", "chosen"),
    [({}, "kimi"), ({"justification": JUSTIFIED}, "gpt-4.1")],
)
async def test_plan_is_the_decision_execute_makes_with_nothing_called_or_written(
    ledger: SQLiteLedger, providers: dict[str, Counting], extra: dict[str, Any], chosen: str
) -> None:
    llm = universal(ledger, providers)
    request = {"prompt": "Build a dashboard", "complexity": "high", "max_tokens": 200, **extra}
    planned = await llm.plan(request, WorkflowContext())
    assert planned.chosen == chosen
    assert planned.request_id == ""  # no ledger entry was made for it
    assert {name: p.calls for name, p in providers.items()} == {"openrouter": [], "openai": []}
    assert [p.probes for p in providers.values()] == [0, 0]  # not even asked if it is up
    assert await ledger.entries("default", current_month()) == []
    summary = await ledger.summary("default", current_month())
    assert summary.reserved_micros == 0
    assert summary.spent_micros == 0

    served = await llm.execute(request, WorkflowContext())
    assert served.routing is not None
    assert served.routing.chosen == planned.chosen
    assert [c.model for c in served.routing.candidates] == [c.model for c in planned.candidates]


async def test_plan_explains_when_no_model_can_serve(
    ledger: SQLiteLedger, providers: dict[str, Counting]
) -> None:
    llm = universal(ledger, providers, free_models=[], budget_profile="free")
    planned = await llm.plan({"prompt": "hi"}, WorkflowContext())  # execute would raise
    assert planned.chosen is None
    assert planned.reason_code == "none"
    assert "never used under the free profile" in planned.candidates[0].reason


async def test_a_prompt_scorer_sets_the_tier_of_auto_requests(
    ledger: SQLiteLedger, providers: dict[str, Counting]
) -> None:
    scorer = PromptScorer.fit(["prove the theorem", "say hello"], [1.0, 0.0], epochs=20)
    llm = universal(ledger, providers, prompt_scorer=scorer, paid_threshold=0.5)
    hard = await llm.plan(
        {"prompt": "prove the theorem", "justification": JUSTIFIED}, WorkflowContext()
    )
    easy = await llm.plan({"prompt": "say hello"}, WorkflowContext())
    assert (hard.complexity, hard.complexity_source) == ("high", "scored")
    assert (easy.complexity, easy.complexity_source) == ("low", "scored")
    assert any("threshold 0.5" in r for r in hard.complexity_reasons)
    given = await llm.plan({"prompt": "prove the theorem", "complexity": "low"}, WorkflowContext())
    assert given.complexity == "low"  # a tier the caller gives wins


async def test_plan_counts_a_keyless_server_only_when_its_last_probe_answered(
    ledger: SQLiteLedger, providers: dict[str, Counting]
) -> None:
    from tta_dev_integrations.llm import create_provider

    ollama = create_provider("ollama", base_url="http://127.0.0.1:9/v1")  # nothing listens
    llm = universal(
        ledger, {**providers, "ollama": ollama}, free_models=["ollama-llama3.2", "kimi"]
    )
    planned = await llm.plan({"prompt": "hi", "complexity": "low"}, WorkflowContext())
    reasons = {c.model: c.reason for c in planned.candidates}
    assert "not available" in reasons["ollama-llama3.2"]  # never probed: not known to be up
    assert planned.chosen == "kimi"
    await ollama.aclose()


async def test_execute_explores_within_its_budget_and_a_plan_never_does(
    ledger: SQLiteLedger, providers: dict[str, Counting]
) -> None:
    import random

    from tta_dev_integrations.llm.policy import Exploration

    llm = universal(
        ledger, providers, free_models=["kimi", "llama-3.3-70b"], paid_models=[],
        exploration=Exploration(share=1.0), rng=random.Random(4),
    )  # fmt: skip
    providers["huggingface"] = Counting("huggingface")
    llm._providers["huggingface"] = providers["huggingface"]
    request = {"prompt": "hi", "complexity": "low"}
    plans = [await llm.plan(request, WorkflowContext()) for _ in range(20)]
    assert {(p.chosen, p.explored) for p in plans} == {("kimi", False)}
    # (12 calls: within both models' free-tier quotas per minute). Every answer is
    # judged: exploration is for tiers whose answers get judged.
    served = []
    for _ in range(12):
        response = await llm.execute(request, WorkflowContext())
        assert response.routing is not None
        await llm.record_feedback(response.routing.request_id, True)
        served.append(response)
    explored = [r.routing for r in served if r.routing is not None and r.routing.explored]
    assert explored  # some decisions sampled the posteriors...
    assert {r.model for r in served} == {"kimi", "llama-3.3-70b"}  # ...and gave llama a try
