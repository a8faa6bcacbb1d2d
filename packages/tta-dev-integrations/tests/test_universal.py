"""UniversalLLMPrimitive end to end: profiles, justification, fallback, the ledger.

A "free" provider (OpenRouter's adapter) and a "paid" one (OpenAI's) each point at a
local replay server; assertions are on what reached each server's request log and on
what the SQLite ledger holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from replay_server import ReplayServer, Reply
from stated_catalog import stated_catalog
from tta_dev_integrations.llm import UnknownModelError, create_provider
from tta_dev_integrations.llm.budget.ledger import current_month, to_usd
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.justification import JustificationRequiredError
from tta_dev_integrations.llm.providers.base import Provider
from tta_dev_integrations.llm.universal import BudgetAlert, UniversalLLMPrimitive
from tta_dev_primitives import AllAlternativesFailedError, WorkflowContext

JUSTIFIED = {
    "reason": "Dashboard requires complex visualization logic",
    "free_alternatives_tried": ["kimi"],
    "expected_quality_delta": "+30%",
}


def completion(text: str, prompt_tokens: int = 100, completion_tokens: int = 50) -> Reply:
    return Reply.json(
        {
            "model": "served",
            "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        }
    )


class Servers:
    """Two replay servers and providers pointed at them, closed after the test."""

    def __init__(self) -> None:
        self.free = ReplayServer().start()
        self.paid = ReplayServer().start()
        self.providers: dict[str, Provider] = {
            "openrouter": create_provider("openrouter", base_url=self.free.url, api_key="or-k"),
            "openai": create_provider("openai", base_url=self.paid.url, api_key="sk-k"),
        }

    def answer(self, *, free: int = 0, paid: int = 0) -> None:
        for _ in range(free):
            self.free.add("/chat/completions", completion("free answer"))
        for _ in range(paid):
            self.paid.add("/chat/completions", completion("paid answer"))

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        self.free.stop()
        self.paid.stop()


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    both = Servers()
    yield both
    await both.close()


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[SQLiteLedger]:
    opened = SQLiteLedger(tmp_path / "ledger.db")
    yield opened
    await opened.close()


def universal(servers: Servers, ledger: SQLiteLedger, **options: Any) -> UniversalLLMPrimitive:
    settings: dict[str, Any] = {
        "coder": "none",
        "budget_profile": "careful",
        "monthly_limit": 50.0,
        "free_models": ["kimi"],
        "paid_models": ["gpt-4.1"],
        "ledger": ledger,
        "providers": servers.providers,
        "catalog": stated_catalog(),  # kimi under gpt-4.1 on the high tier, as stated there
    }
    settings.update(options)
    return UniversalLLMPrimitive(**settings)


def request(complexity: str = "high", **extra: Any) -> dict[str, Any]:
    return {"prompt": "Build a dashboard", "complexity": complexity, "max_tokens": 200, **extra}


# -- profiles ----------------------------------------------------------------------------


async def test_free_profile_never_calls_a_paid_model(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.answer(free=1)
    llm = universal(servers, ledger, budget_profile="FREE")
    response = await llm.execute(request(justification=JUSTIFIED), WorkflowContext())
    assert response.content == "free answer"
    assert servers.paid.requests == []
    assert response.routing.profile == "free"
    assert response.routing.chosen == "kimi"


async def test_careful_without_justification_serves_with_the_best_free_model(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.answer(free=1)
    response = await universal(servers, ledger).execute(request("high"), WorkflowContext())
    assert response.model == "kimi"
    assert servers.paid.requests == []
    routing = response.routing
    assert routing.reason_code == "best_free_no_justification"
    assert "no valid justification" in routing.reason
    assert "no justification given" in routing.justification_problems


async def test_careful_with_justification_uses_the_paid_model_and_records_why(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.answer(paid=1)
    response = await universal(servers, ledger).execute(
        request("high", justification=JUSTIFIED), WorkflowContext()
    )
    assert response.model == "gpt-4.1"
    assert len(servers.paid.requests) == 1
    assert servers.free.requests == []
    assert response.cost_usd > 0
    assert response.routing.reservation_usd is not None
    assert response.routing.reservation_usd >= response.cost_usd
    [entry] = await ledger.entries("default", current_month())
    assert entry.state == "settled"
    assert entry.justification is not None
    assert entry.justification.reason == JUSTIFIED["reason"]
    assert entry.justification_verified is False  # kimi was never tried in this workflow
    summary = await ledger.summary("default", current_month())
    assert to_usd(summary.spent_micros) == pytest.approx(response.cost_usd, abs=1e-6)
    assert summary.reserved_micros == 0


async def test_a_justification_is_verified_when_the_free_model_was_tried_first(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.answer(free=1, paid=1)
    llm = universal(servers, ledger)
    ctx = WorkflowContext()
    first = await llm.execute(request("high"), ctx)  # served by kimi, recorded
    assert first.model == "kimi"
    second = await llm.execute(request("high", justification=JUSTIFIED), ctx.child())
    assert second.model == "gpt-4.1"
    assert second.routing.justification_verified is True
    paid = [e for e in await ledger.entries("default", current_month()) if e.model == "gpt-4.1"]
    assert paid[0].justification_verified is True


async def test_low_complexity_stays_free_even_with_a_justification(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.answer(free=1)
    response = await universal(servers, ledger).execute(
        request("low", justification=JUSTIFIED), WorkflowContext()
    )
    assert response.model == "kimi"
    assert servers.paid.requests == []


async def test_auto_complexity_is_estimated_and_shown(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.answer(free=1)
    response = await universal(servers, ledger).execute(
        {"prompt": "Fix the typo in the README", "complexity": "auto"}, WorkflowContext()
    )
    assert response.routing.complexity == "low"
    assert response.routing.complexity_source == "estimated"
    assert response.routing.complexity_reasons


async def test_without_any_free_model_and_no_justification_it_names_the_fields(
    servers: Servers, ledger: SQLiteLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    providers = {"openai": servers.providers["openai"]}  # no free provider at all
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    llm = universal(servers, ledger, providers=providers)
    with pytest.raises(JustificationRequiredError) as info:
        await llm.execute(request("high"), WorkflowContext())
    for field_name in ("reason", "free_alternatives_tried", "expected_quality_delta"):
        assert field_name in str(info.value)
    assert servers.paid.requests == []


async def test_unlimited_takes_the_best_model_and_tracks_spend(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.answer(paid=1)
    llm = universal(servers, ledger, budget_profile="unlimited", monthly_limit=None)
    response = await llm.execute(request("low"), WorkflowContext())
    assert response.model == "gpt-4.1"
    summary = await ledger.summary("default", current_month())
    assert summary.limit_micros is None
    assert summary.spent_micros > 0


# -- the limit ---------------------------------------------------------------------------


async def test_a_paid_call_that_would_pass_the_limit_is_never_made(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.answer(free=1)
    llm = universal(servers, ledger, budget_profile="unlimited", monthly_limit=0.0001)
    response = await llm.execute(request("high", max_tokens=4000), WorkflowContext())
    assert response.model == "kimi"
    assert servers.paid.requests == []
    paid = next(c for c in response.routing.candidates if c.model == "gpt-4.1")
    assert "exceeds" in paid.reason


async def test_alerts_fire_once_per_threshold_crossing(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    alerts: list[BudgetAlert] = []
    for _ in range(2):
        servers.paid.add("/chat/completions", completion("paid", 250, 10))
    servers.answer(free=1)
    # gpt-4.1 at 250 input + 10 output tokens costs $0.00058: against a $0.001 limit the
    # first call crosses 50%, the second 80% and 100%; the third finds no room for a
    # paid call and is served free, crossing nothing.
    llm = universal(
        servers,
        ledger,
        budget_profile="unlimited",
        monthly_limit=0.001,
        on_budget_alert=alerts.append,
    )
    models = []
    for _ in range(3):
        response = await llm.execute(request("low", max_tokens=10), WorkflowContext())
        models.append(response.model)
    assert models == ["gpt-4.1", "gpt-4.1", "kimi"]
    assert [a.threshold for a in alerts] == [0.5, 0.8, 1.0]
    summary = await ledger.summary("default", current_month())
    # The truth is recorded even above the limit, and it blocks further paid calls.
    assert to_usd(summary.spent_micros) == pytest.approx(0.00116)


# -- fallback ----------------------------------------------------------------------------


async def test_a_failing_paid_provider_falls_back_and_releases_its_reservation(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.paid.add("/chat/completions", Reply.json({"error": {"message": "down"}}, status=503))
    servers.answer(free=1)
    response = await universal(servers, ledger).execute(
        request("high", justification=JUSTIFIED), WorkflowContext()
    )
    assert response.model == "kimi"
    assert response.routing.failed == ("gpt-4.1",)
    states = {e.model: e.state for e in await ledger.entries("default", current_month())}
    assert states == {"gpt-4.1": "released", "kimi": "free"}
    summary = await ledger.summary("default", current_month())
    assert summary.reserved_micros == 0
    assert summary.spent_micros == 0


async def test_when_every_model_fails_each_failure_is_reported(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.free.add("/chat/completions", Reply.json({"error": {"message": "x"}}, status=500))
    servers.paid.add("/chat/completions", Reply.json({"error": {"message": "y"}}, status=500))
    with pytest.raises(AllAlternativesFailedError) as info:
        await universal(servers, ledger).execute(
            request("high", justification=JUSTIFIED), WorkflowContext()
        )
    assert len(info.value.exceptions) == 2


async def test_an_unreachable_ledger_fails_paid_calls_closed_and_lets_free_ones_go_on(
    servers: Servers, tmp_path: Path
) -> None:
    (tmp_path / "blocker").write_text("not a directory", encoding="utf-8")
    broken = SQLiteLedger(tmp_path / "blocker" / "ledger.db")
    servers.answer(free=1)
    llm = universal(servers, broken, budget_profile="unlimited")
    response = await llm.execute(request("high"), WorkflowContext())
    assert response.model == "kimi"
    assert servers.paid.requests == []
    assert [w.kind for w in llm.journal.pending()] == ["free"]


# -- construction ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"budget_profile": "cheap"}, ValueError, "free, careful, unlimited"),
        ({"monthly_limit": -1.0}, ValueError, "monthly_limit"),
        ({"free_models": ["no-such-model"]}, UnknownModelError, "kimi"),
        ({"free_models": ["gpt-4o"]}, ValueError, "paid"),
        ({"coder": "vim"}, ValueError, "copilot"),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    options: dict[str, Any], error: type[Exception], match: str
) -> None:
    settings: dict[str, Any] = {"coder": "none", "free_models": ["kimi"]}
    settings.update(options)
    with pytest.raises(error, match=match):
        UniversalLLMPrimitive(**settings)


async def test_feedback_reaches_the_ledger(servers: Servers, ledger: SQLiteLedger) -> None:
    servers.answer(free=1)
    llm = universal(servers, ledger)
    response = await llm.execute(request("low"), WorkflowContext())
    await llm.record_feedback(response.routing.request_id, False)
    stats = await ledger.model_stats(["kimi"])
    assert stats["kimi"].feedback_bad == 1


# -- streaming ---------------------------------------------------------------------------


def sse(text: str) -> Any:
    from replay_server import SSEReply

    chunk = {"model": "m", "choices": [{"delta": {"content": text}, "finish_reason": None}]}
    end = {
        "model": "m",
        "choices": [{"delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50},
    }
    return SSEReply([(None, chunk), (None, end), (None, "[DONE]")])


async def test_a_paid_stream_is_reserved_and_settled_like_a_plain_call(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.paid.add("/chat/completions", sse("streamed"))
    stream = universal(servers, ledger).stream(
        request("high", justification=JUSTIFIED), WorkflowContext()
    )
    assert await stream.text() == "streamed"
    assert stream.response is not None
    assert stream.response.model == "gpt-4.1"
    assert stream.response.routing.reservation_usd is not None
    [entry] = await ledger.entries("default", current_month())
    assert entry.state == "settled"
    assert to_usd(entry.actual_micros) == pytest.approx(stream.response.cost_usd, abs=1e-6)
    assert servers.paid.last.json["stream"] is True


async def test_a_stream_that_fails_before_its_first_token_falls_back(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.paid.add("/chat/completions", Reply.json({"error": {"message": "down"}}, status=503))
    servers.free.add("/chat/completions", sse("free stream"))
    stream = universal(servers, ledger).stream(
        request("high", justification=JUSTIFIED), WorkflowContext()
    )
    assert await stream.text() == "free stream"
    assert stream.response is not None
    assert stream.response.model == "kimi"
    states = {e.model: e.state for e in await ledger.entries("default", current_month())}
    assert states == {"gpt-4.1": "released", "kimi": "free"}


async def test_the_free_profile_never_streams_from_a_paid_model(
    servers: Servers, ledger: SQLiteLedger
) -> None:
    servers.free.add("/chat/completions", sse("free"))
    stream = universal(servers, ledger, budget_profile="free").stream(
        request("high", justification=JUSTIFIED), WorkflowContext()
    )
    assert await stream.text() == "free"
    assert servers.paid.requests == []


async def test_an_exhausted_free_model_is_skipped_not_failed(
    servers: Servers, ledger: SQLiteLedger, tmp_path: Path
) -> None:
    import json

    from tta_dev_integrations.llm import load_catalog

    def free(model_id: str, quality: float, per_minute: int) -> dict[str, Any]:
        return {
            "provider": "openrouter", "model_id": model_id, "free": True,
            "free_tier": {"requests_per_minute": per_minute, "requests_per_day": 100},
            "quality": {"low": quality, "medium": quality, "high": quality},
        }  # fmt: skip

    path = tmp_path / "catalog.json"
    models = {"tiny-quota": free("a/one:free", 0.9, 1), "roomy": free("b/two:free", 0.8, 50)}
    path.write_text(json.dumps({"models": models}), encoding="utf-8")
    servers.answer(free=2)
    llm = universal(
        servers, ledger, catalog=load_catalog(path), free_models=["tiny-quota", "roomy"],
        paid_models=[],
    )  # fmt: skip
    first = await llm.execute(request("low"), WorkflowContext())
    second = await llm.execute(request("low"), WorkflowContext())
    assert (first.model, second.model) == ("tiny-quota", "roomy")
    sent = [r.json["model"] for r in servers.free.requests]
    assert sent == ["a/one:free", "b/two:free"]  # the exhausted model was never called


async def test_a_ledger_blip_after_settlement_does_not_fail_the_served_call(
    servers: Servers, tmp_path: Path
) -> None:
    from tta_dev_integrations.llm.budget.ledger import LedgerUnavailableError, SpendSummary

    class BlinksAfterSettling(SQLiteLedger):
        settled = False

        async def settle(self, request_id: str, actual_micros: int, **kw: Any) -> None:
            await super().settle(request_id, actual_micros, **kw)
            self.settled = True

        async def summary(self, scope: str, month: str) -> SpendSummary:
            if self.settled:
                raise LedgerUnavailableError("the ledger went away")
            return await super().summary(scope, month)

    ledger = BlinksAfterSettling(tmp_path / "ledger.db")
    servers.answer(paid=1)
    response = await universal(servers, ledger).execute(
        request("high", justification=JUSTIFIED), WorkflowContext()
    )
    assert response.model == "gpt-4.1"
    assert response.routing.budget_left_usd == 0.0  # unknown: reported as nothing left
    [entry] = await ledger.entries("default", current_month())
    assert entry.state == "settled"
    await ledger.close()
