"""What UniversalLLMPrimitive refuses before any call: bad limits, blank prompts, bad
justifications, unverified justifications when asked, and the no-provider case.

A "free" provider (OpenRouter's adapter) and a "paid" one (OpenAI's) point at local
replay servers; every refusal is checked to reach neither.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from replay_server import ReplayServer, Reply
from tta_dev_integrations.llm import create_provider
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.justification import (
    MAX_REASON_CHARS,
    JustificationRequiredError,
    justification_problems,
    parse_justification,
)
from tta_dev_integrations.llm.providers.base import Provider
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import WorkflowContext

JUSTIFIED = {
    "reason": "The dashboard needs reasoning the free model got wrong",
    "free_alternatives_tried": ["kimi"],
    "expected_quality_delta": "+30%",
}


def completion(text: str) -> Reply:
    return Reply.json(
        {
            "model": "served",
            "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5},
        }
    )


class Servers:
    def __init__(self) -> None:
        self.free = ReplayServer().start()
        self.paid = ReplayServer().start()
        self.providers: dict[str, Provider] = {
            "openrouter": create_provider("openrouter", base_url=self.free.url, api_key="or-k"),
            "openai": create_provider("openai", base_url=self.paid.url, api_key="sk-k"),
        }

    @property
    def requests(self) -> int:
        return len(self.free.requests) + len(self.paid.requests)


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    both = Servers()
    yield both
    for provider in both.providers.values():
        await provider.aclose()
    both.free.stop()
    both.paid.stop()


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SQLiteLedger]:
    opened = SQLiteLedger(tmp_path / "ledger.db")
    yield opened
    await opened.close()


def universal(servers: Servers, ledger: SQLiteLedger, **options: Any) -> UniversalLLMPrimitive:
    settings: dict[str, Any] = {
        "coder": "none",
        "monthly_limit": 10.0,
        "free_models": ["kimi"],
        "paid_models": ["gpt-4.1"],
        "ledger": ledger,
        "providers": servers.providers,
    }
    settings.update(options)
    return UniversalLLMPrimitive(**settings)


@pytest.mark.parametrize("limit", [True, "5", [5.0], -1.0, float("nan"), 1e30])
def test_a_bad_monthly_limit_is_refused_at_construction_naming_the_field(limit: object) -> None:
    with pytest.raises(ValueError, match="monthly_limit"):
        UniversalLLMPrimitive(coder="none", monthly_limit=limit)  # type: ignore[arg-type]


@pytest.mark.parametrize("prompt", ["", "   \n\t"])
async def test_a_blank_prompt_is_refused_in_one_line(
    servers: Servers, ledger: SQLiteLedger, prompt: str
) -> None:
    with pytest.raises(ValueError, match="prompt is empty") as info:
        await universal(servers, ledger).execute({"prompt": prompt}, WorkflowContext())
    assert "\n" not in str(info.value)
    assert servers.requests == 0


async def test_a_100kb_reason_makes_the_justification_invalid(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.free.add("/chat/completions", completion("free"))
    huge = {**JUSTIFIED, "reason": "x" * 100_000}
    response = await universal(servers, ledger).execute(
        {"prompt": "Build a dashboard", "complexity": "high", "justification": huge},
        WorkflowContext(),
    )
    assert response.model == "kimi"  # careful: no valid justification, the free model serves
    assert servers.paid.requests == []
    [problem] = response.routing.justification_problems
    assert f"at most {MAX_REASON_CHARS}" in problem
    assert len(problem) < 200


@pytest.mark.parametrize(
    ("delta", "valid"),
    [
        ("+30%", True),
        ("-5.5%", True),
        ("12 %", True),
        ("+\uff13\uff10%", False),  # full-width digits
        ("+\u0663\u0660%", False),  # Arabic-Indic digits
        ("+30%%", False),
        ("+99999999999%", False),
        ("thirty", False),
    ],
)
def test_expected_quality_delta_is_an_ascii_signed_percentage(delta: str, valid: bool) -> None:
    from tta_dev_integrations.llm import load_catalog

    justification, shape = parse_justification({**JUSTIFIED, "expected_quality_delta": delta})
    problems = shape + justification_problems(justification, load_catalog())
    assert (problems == []) is valid


def test_a_malformed_free_alternatives_list_is_a_problem_not_a_crash() -> None:
    _, shape = parse_justification({**JUSTIFIED, "free_alternatives_tried": 5})
    assert shape == ["free_alternatives_tried must be a list of catalog aliases"]


async def test_require_verified_justification_refuses_untried_free_models(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.free.add("/chat/completions", completion("free"), completion("free"))
    servers.paid.add("/chat/completions", completion("paid"))
    request = {"prompt": "Build a dashboard", "complexity": "high", "justification": JUSTIFIED}
    strict = universal(servers, ledger, require_verified_justification=True)
    untried = await strict.execute(request, WorkflowContext())
    assert untried.model == "kimi"  # kimi was never tried in this workflow
    assert any("require_verified" in p for p in untried.routing.justification_problems)
    assert servers.paid.requests == []
    # Tried first in the same workflow: the justification is verified, the paid call made.
    workflow = WorkflowContext()
    await strict.execute({"prompt": "Build a dashboard", "complexity": "high"}, workflow)
    verified = await strict.execute(request, workflow.child())
    assert verified.model == "gpt-4.1"
    assert verified.routing.justification_verified is True


async def test_require_verified_justification_without_a_free_model_names_the_problem(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    strict = universal(servers, ledger, free_models=[], require_verified_justification=True)
    request = {"prompt": "Build a dashboard", "complexity": "high", "justification": JUSTIFIED}
    with pytest.raises(JustificationRequiredError, match="require_verified_justification"):
        await strict.execute(request, WorkflowContext())
    assert servers.requests == 0


async def test_with_no_provider_reachable_the_error_says_how_to_fix_it(
    ledger: SQLiteLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("OPENROUTER_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    llm = UniversalLLMPrimitive(
        coder="none", free_models=["kimi"], paid_models=["gpt-4.1"], ledger=ledger
    )
    with pytest.raises(LLMError, match='add "local" to free_models') as info:
        await llm.execute({"prompt": "Hello"}, WorkflowContext())
    assert "OPENROUTER_API_KEY" in str(info.value)
