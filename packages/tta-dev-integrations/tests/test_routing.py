"""The routing decision, the complexity estimator, profiles and justifications: pure logic."""

from __future__ import annotations

from typing import Any

import pytest

from tta_dev_integrations.llm import load_catalog
from tta_dev_integrations.llm.budget.ledger import ModelStats
from tta_dev_integrations.llm.budget.profiles import BudgetProfile, parse_profile
from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.complexity import estimate_complexity
from tta_dev_integrations.llm.justification import justification_problems, parse_justification
from tta_dev_integrations.llm.routing import RoutingInputs, decide, expected_quality


def model(alias: str, *, free: bool, quality: float, caps: tuple[str, ...] = ()) -> ModelInfo:
    return ModelInfo(
        alias=alias,
        provider="openai" if not free else "openrouter",
        model_id=alias,
        free=free,
        context_window=8192,
        capabilities=frozenset(caps),
        quality={"low": quality, "medium": quality, "high": quality},
        quality_source="test",
    )


FREE_WEAK = model("free-weak", free=True, quality=0.6)
FREE_GOOD = model("free-good", free=True, quality=0.8)
PAID_CHEAP = model("paid-cheap", free=False, quality=0.9)
PAID_BEST = model("paid-best", free=False, quality=0.97, caps=("vision",))
MODELS = [FREE_WEAK, FREE_GOOD, PAID_CHEAP, PAID_BEST]
COSTS = {"paid-cheap": 0.01, "paid-best": 0.05}


def inputs(**overrides: Any) -> RoutingInputs:
    values: dict[str, Any] = {
        "models": MODELS,
        "profile": BudgetProfile.CAREFUL,
        "tier": "medium",
        "worst_case_usd": COSTS,
        "available_providers": frozenset({"openai", "openrouter"}),
    }
    values.update(overrides)
    return RoutingInputs(**values)


def kept(decision: Any) -> dict[str, str]:
    return {c.model: c.reason for c in decision.candidates}


# -- profiles ------------------------------------------------------------------------


def test_free_never_keeps_a_paid_model_whatever_the_tier() -> None:
    decision = decide(inputs(profile=BudgetProfile.FREE, tier="high", justification_valid=True))
    assert decision.chosen == "free-good"
    assert "never used under the free profile" in kept(decision)["paid-best"]
    assert decision.reason_code == "best_available"


def test_careful_uses_the_cheapest_free_model_that_meets_the_bar() -> None:
    decision = decide(inputs(tier="medium", justification_valid=True))
    assert decision.chosen == "free-good"
    assert kept(decision)["paid-cheap"] == "a free model meets the quality bar"


def test_careful_low_tier_takes_the_cheapest_adequate_even_if_weaker() -> None:
    decision = decide(inputs(tier="low"))
    assert decision.chosen in ("free-weak", "free-good")
    assert decision.reason_code == "cheapest_meeting_bar"


def test_careful_high_tier_with_justification_picks_the_cheapest_paid_meeting_the_bar() -> None:
    decision = decide(inputs(tier="high", justification_valid=True))
    assert decision.chosen == "paid-cheap"
    assert "paid, justified" in decision.reason


def test_careful_high_tier_without_justification_serves_with_the_best_free() -> None:
    decision = decide(inputs(tier="high", justification_valid=False))
    assert decision.chosen == "free-good"
    assert kept(decision)["paid-cheap"] == "paid, and no valid justification"


def test_unlimited_takes_the_best_model() -> None:
    decision = decide(inputs(profile=BudgetProfile.UNLIMITED, tier="low"))
    assert decision.chosen == "paid-best"
    assert decision.reason_code == "best"


def test_budget_left_drops_what_does_not_fit() -> None:
    decision = decide(inputs(profile=BudgetProfile.UNLIMITED, remaining_usd=0.02))
    assert decision.chosen == "paid-cheap"
    assert "exceeds" in kept(decision)["paid-best"]


# -- exclusions ----------------------------------------------------------------------


def test_failed_unavailable_incapable_and_exhausted_models_are_dropped_with_reasons() -> None:
    decision = decide(
        inputs(
            profile=BudgetProfile.UNLIMITED,
            failed=frozenset({"paid-best"}),
            quota_exhausted=frozenset({"free-good"}),
            available_providers=frozenset({"openrouter"}),
        )
    )
    reasons = kept(decision)
    assert reasons["paid-best"] == "failed earlier in this request"
    assert reasons["free-good"] == "free-tier quota exhausted"
    assert "not available" in reasons["paid-cheap"]
    assert decision.chosen == "free-weak"
    assert decision.failed == ("paid-best",)


def test_a_needed_capability_drops_models_without_it() -> None:
    decision = decide(inputs(profile=BudgetProfile.UNLIMITED, needs=frozenset({"vision"})))
    assert decision.chosen == "paid-best"
    assert kept(decision)["free-good"] == "lacks vision"


def test_nothing_allowed_gives_no_choice() -> None:
    decision = decide(inputs(available_providers=frozenset()))
    assert decision.chosen is None
    assert decision.reason_code == "none"


# -- learning --------------------------------------------------------------------------


def test_observed_failures_lower_expected_quality_and_change_the_choice() -> None:
    bad = ModelStats("free-good", calls=60, successes=10, feedback_good=0, feedback_bad=5,
                     mean_latency_s=1.0)  # fmt: skip
    assert expected_quality(FREE_GOOD, "medium", bad) < FREE_GOOD.quality["medium"]
    decision = decide(inputs(tier="low", stats={"free-good": bad}))
    assert decision.chosen == "free-weak"


def test_few_calls_do_not_move_the_prior() -> None:
    few = ModelStats("free-good", calls=2, successes=0, feedback_good=0, feedback_bad=0,
                     mean_latency_s=None)  # fmt: skip
    assert expected_quality(FREE_GOOD, "medium", few) == FREE_GOOD.quality["medium"]


def test_ties_are_broken_by_observed_success() -> None:
    twin = model("free-twin", free=True, quality=0.8)
    good = ModelStats("free-twin", 10, 10, 0, 0, 0.5)
    weak = ModelStats("free-good", 10, 9, 0, 0, 0.5)
    decision = decide(
        inputs(models=[FREE_GOOD, twin], stats={"free-twin": good, "free-good": weak})
    )
    assert decision.chosen == "free-twin"


# -- profile names, complexity, justification ------------------------------------------


@pytest.mark.parametrize("name", ["free", "CAREFUL", " Unlimited "])
def test_profile_names_are_case_insensitive(name: str) -> None:
    assert parse_profile(name).value == name.strip().lower()


def test_unknown_profile_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="free, careful, unlimited"):
        parse_profile("cheap")


@pytest.mark.parametrize(
    ("prompt", "tier"),
    [
        ("Fix the typo in the README", "low"),
        ("Translate 'hello' to French", "low"),
        ("Write a function that parses ISO dates and add tests for leap years", "low"),
        (
            "Design a distributed cache: architecture, security review, and a migration plan "
            "from the current one. It must stay scalable.",
            "high",
        ),
        ("```python\ndef f(x):\n    return x\n```\nWhy is this slow? And how to refactor it?",
         "medium"),
    ],
)  # fmt: skip
def test_complexity_estimator_tiers(prompt: str, tier: str) -> None:
    estimate = estimate_complexity(prompt)
    assert estimate.tier == tier, estimate


def test_complexity_estimate_explains_itself() -> None:
    estimate = estimate_complexity("Refactor the security architecture " + "x " * 900)
    assert estimate.tier == "high"
    assert any("long" in r for r in estimate.reasons)
    assert any("hard words" in r for r in estimate.reasons)


def test_a_valid_justification_has_no_problems() -> None:
    justification, shape = parse_justification(
        {
            "reason": "Dashboard requires complex visualization logic",
            "free_alternatives_tried": ["gemini-1.5-pro"],
            "expected_quality_delta": "+30%",
        }
    )
    assert shape == []
    assert justification_problems(justification, load_catalog()) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "no justification"),
        ({"reason": "", "free_alternatives_tried": ["kimi"], "expected_quality_delta": "+5%"},
         "reason is empty"),
        ({"reason": "r", "free_alternatives_tried": [], "expected_quality_delta": "+5%"},
         "free_alternatives_tried is empty"),
        ({"reason": "r", "free_alternatives_tried": ["gpt-4o"], "expected_quality_delta": "+5%"},
         "not free"),
        ({"reason": "r", "free_alternatives_tried": ["nope"], "expected_quality_delta": "+5%"},
         "not in the catalog"),
        ({"reason": "r", "free_alternatives_tried": ["kimi"], "expected_quality_delta": "lots"},
         "percentage"),
    ],
)  # fmt: skip
def test_invalid_justifications_say_what_is_wrong(value: Any, problem: str) -> None:
    justification, shape = parse_justification(value)
    problems = shape + justification_problems(justification, load_catalog())
    assert any(problem in p for p in problems), problems
