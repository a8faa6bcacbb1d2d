"""The routing decision, the complexity estimator, profiles and justifications: pure logic."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tta_dev_integrations.llm import load_catalog
from tta_dev_integrations.llm.budget.ledger import ModelStats
from tta_dev_integrations.llm.budget.profiles import BudgetProfile, parse_profile
from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.complexity import estimate_complexity
from tta_dev_integrations.llm.justification import justification_problems, parse_justification
from tta_dev_integrations.llm.policy import (
    Evidence,
    Exploration,
    MemoryEvidence,
    posterior_quality,
    reliability,
)
from tta_dev_integrations.llm.routing import (
    RoutingInputs,
    decide,
    evidence_from_model_stats,
    expected_quality,
)


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


def test_quality_above_the_bar_counts_between_models_of_the_same_price() -> None:
    decision = decide(inputs(tier="low"))
    assert decision.chosen == "free-good"  # 0.8 beats 0.6, both free, both over 0.5
    assert decision.reason_code == "best_value_meeting_bar"


def test_a_pricier_paid_model_must_be_proportionally_better() -> None:
    # paid-best is 5x the price for 0.97 against 0.9: value per cost keeps paid-cheap;
    # at 1.1x the price its quality wins.
    assert decide(inputs(tier="high", justification_valid=True)).chosen == "paid-cheap"
    close = {"paid-cheap": 0.01, "paid-best": 0.011}
    decision = decide(inputs(tier="high", justification_valid=True, worst_case_usd=close))
    assert decision.chosen == "paid-best"


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


def judged(
    alias: str, n: float, mean: float, *, calls: float = 0.0, errors: float = 0.0
) -> Evidence:
    return Evidence(alias, "medium", judged=n, judged_score_sum=n * mean,
                    calls=max(calls, n), errors=errors)  # fmt: skip


def test_judged_answers_correct_a_wrong_prior_without_a_cap() -> None:
    # prior 0.8, truth 0.6: fifteen judged answers move it half way, a thousand all the way.
    assert expected_quality(FREE_GOOD, "medium", judged("free-good", 15, 0.6)) == pytest.approx(0.7)
    far = expected_quality(FREE_GOOD, "medium", judged("free-good", 1000, 0.6))
    assert far == pytest.approx(0.6, abs=0.003)


def test_calls_without_a_judgement_say_nothing_about_quality() -> None:
    unjudged = Evidence("free-good", "medium", calls=500.0, errors=0.0)
    assert expected_quality(FREE_GOOD, "medium", unjudged) == FREE_GOOD.quality["medium"]
    mean, spread = posterior_quality(0.8, unjudged)
    assert mean == 0.8
    assert spread > 0.09


def test_observed_bad_answers_change_the_choice() -> None:
    decision = decide(inputs(tier="low", stats={"free-good": judged("free-good", 60, 0.3)}))
    assert decision.chosen == "free-weak"
    good = next(c for c in decision.candidates if c.model == "free-good")
    assert good.judged == 60
    assert good.expected_quality < 0.5


def test_errors_lower_reliability_not_quality_and_the_reliable_twin_wins() -> None:
    twin = model("free-twin", free=True, quality=0.8)
    flaky = Evidence("free-good", "medium", calls=40.0, errors=20.0)
    assert reliability(flaky) < 0.75 < reliability(None)
    assert expected_quality(FREE_GOOD, "medium", flaky) == 0.8
    decision = decide(inputs(models=[FREE_GOOD, twin], stats={"free-good": flaky}))
    assert decision.chosen == "free-twin"


def test_pooled_ledger_stats_count_only_their_feedback_as_judged() -> None:
    stats = ModelStats("free-good", calls=60, successes=58, feedback_good=2, feedback_bad=8,
                       mean_latency_s=1.0)  # fmt: skip
    evidence = evidence_from_model_stats(stats, "medium")
    assert (evidence.judged, evidence.judged_score_sum, evidence.errors) == (10.0, 2.0, 2.0)
    decision = decide(inputs(tier="low", stats={"free-good": stats}))
    assert decision.chosen == "free-weak"  # (8 + 2) / 20 = 0.5 * 0.97-ish < 0.6


def test_ties_are_broken_by_latency() -> None:
    twin = model("free-twin", free=True, quality=0.8)
    fast = Evidence("free-twin", "medium", calls=10.0, mean_latency_s=0.2)
    slow = Evidence("free-good", "medium", calls=10.0, mean_latency_s=2.0)
    decision = decide(
        inputs(models=[FREE_GOOD, twin], stats={"free-twin": fast, "free-good": slow})
    )
    assert decision.chosen == "free-twin"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"judged": 2.0, "judged_score_sum": 3.0},
        {"judged": 2.0, "judged_score_sum": -0.1},
        {"calls": 2.0, "errors": 3.0},
    ],
)
def test_impossible_evidence_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must lie in"):
        Evidence("m", "low", **kwargs)


@pytest.mark.parametrize(("share", "left"), [(-0.1, 0.0), (1.5, 0.0), (0.1, -1.0)])
def test_an_impossible_exploration_budget_is_refused(share: float, left: float) -> None:
    with pytest.raises(ValueError, match="exploration"):
        Exploration(share=share, paid_usd_left=left)


# -- exploration -----------------------------------------------------------------------


def choices(n: int, **overrides: Any) -> dict[str | None, int]:
    rng = random.Random(3)
    counts: dict[str | None, int] = {}
    for _ in range(n):
        chosen = decide(inputs(rng=rng, **overrides)).chosen
        counts[chosen] = counts.get(chosen, 0) + 1
    return counts


def test_a_model_under_the_bar_earns_some_traffic_only_when_exploring() -> None:
    # free-weak (0.6) is far under free-good (0.8) on means: never chosen without exploring.
    tier = {"tier": "low", "profile": BudgetProfile.FREE}
    assert choices(300, **tier) == {"free-good": 300}
    explored = choices(300, exploration=Exploration(share=1.0), **tier)
    assert 0 < explored.get("free-weak", 0) < 150


def test_exploration_share_limits_how_often_the_posterior_is_sampled() -> None:
    rng = random.Random(5)
    runs = [
        decide(inputs(tier="low", rng=rng, exploration=Exploration(share=0.1))) for _ in range(2000)
    ]
    explored = sum(d.explored for d in runs)
    assert 120 < explored < 280
    assert all(d.reason_code == "explore" for d in runs if d.explored)


def test_exploration_stops_where_answers_are_never_judged() -> None:
    unjudged = {
        "free-good": Evidence("free-good", "low", calls=40.0),
        "free-weak": Evidence("free-weak", "low", calls=20.0),
    }
    always = {"tier": "low", "profile": BudgetProfile.FREE, "exploration": Exploration(share=1.0)}
    assert choices(200, stats=unjudged, **always) == {"free-good": 200}


def test_exploration_follows_the_judged_share_and_falls_as_the_posterior_narrows() -> None:
    # Within the share, a decision explores with the chance an answer on its tier is
    # judged, (judged + 1) / (calls + 1), times the prior's weight in the average
    # posterior, 15 / (15 + judged per model).
    def explored(judged: float) -> float:
        stats = {"free-good": Evidence("free-good", "low", judged=judged,
                                       judged_score_sum=0.8 * judged, calls=39.0)}  # fmt: skip
        rng = random.Random(3)
        runs = [
            decide(inputs(tier="low", rng=rng, stats=stats, exploration=Exploration(share=1.0)))
            for _ in range(2000)
        ]
        return sum(d.explored for d in runs) / 2000

    assert explored(7.0) == pytest.approx(8 / 40 * 15 / 22, abs=0.03)
    assert explored(39.0) == pytest.approx(15 / 54, abs=0.03)
    assert explored(0.0) == pytest.approx(1 / 40, abs=0.015)


def test_a_changed_model_list_is_read_again() -> None:
    # decide reads each model once per list of models and tier; the same list object
    # with an entry replaced is a different list.
    models = list(MODELS)
    assert decide(inputs(models=models, tier="low")).chosen == "free-good"
    models[1] = model("free-good", free=True, quality=0.3)
    decision = decide(inputs(models=models, tier="low"))
    assert decision.chosen == "free-weak"
    assert {c.model: c.expected_quality for c in decision.candidates}["free-good"] == 0.3


def test_paid_exploration_stays_within_the_money_set_aside() -> None:
    # Medium tier, careful, justified, no free model meets the bar: paid-cheap has the best
    # quality per cost on the means; paid-best, 20% dearer, wins on some optimistic draws.
    base: dict[str, Any] = {
        "models": [FREE_WEAK, PAID_CHEAP, PAID_BEST],
        "worst_case_usd": {"paid-cheap": 0.01, "paid-best": 0.012},
        "justification_valid": True,
    }
    assert choices(50, **base) == {"paid-cheap": 50}
    nothing_set_aside = choices(400, exploration=Exploration(share=1.0, paid_usd_left=0.0), **base)
    assert "paid-best" not in nothing_set_aside
    assert nothing_set_aside.get("free-weak", 0) > 0  # exploring free models costs nothing
    for left in (None, 0.02):
        explored = choices(400, exploration=Exploration(share=1.0, paid_usd_left=left), **base)
        assert explored.get("paid-best", 0) > 0, left


def test_the_same_seed_gives_the_same_decisions() -> None:
    runs = [choices(100, tier="low", exploration=Exploration(share=0.5)) for _ in range(2)]
    assert runs[0] == runs[1]


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


# -- the in-memory evidence store ------------------------------------------------------


async def test_memory_evidence_keeps_quality_and_reliability_apart_per_tier() -> None:
    store = MemoryEvidence(decay=1.0)
    for ok in (True, True, False):
        store.record_call("free-good", "low", ok=ok, latency_s=0.5)
    store.record_judgement("free-good", "low", 0.25)
    store.record_call("free-good", "high", ok=True)
    low = store.evidence("low")["free-good"]
    assert (low.calls, low.errors, low.judged, low.judged_score_sum) == (3.0, 1.0, 1.0, 0.25)
    assert low.mean_latency_s == 0.5
    assert store.evidence("high")["free-good"].judged == 0.0
    assert store.evidence("medium") == {}
    found = await store.routing_evidence(["free-good", "free-weak"], "low")
    assert list(found) == ["free-good"]


def test_memory_evidence_decays_old_observations() -> None:
    store = MemoryEvidence(decay=0.5)
    store.record_judgement("m", "low", 0.0)
    store.record_judgement("m", "low", 1.0)  # the first now weighs a half
    evidence = store.evidence("low")["m"]
    assert (evidence.judged, evidence.judged_score_sum) == (1.5, 1.0)


def test_memory_evidence_judged_answers_age_with_judged_answers_not_calls() -> None:
    store = MemoryEvidence(decay=0.5)
    store.record_judgement("m", "low", 1.0)
    for _ in range(10):  # unjudged calls: the judged answer keeps its weight
        store.record_call("m", "low", ok=True)
    evidence = store.evidence("low")["m"]
    assert (evidence.judged, evidence.judged_score_sum) == (1.0, 1.0)
    assert evidence.calls == 2.0 - 0.5**9  # calls age with calls


@pytest.mark.parametrize("score", [-0.1, 1.5])
def test_memory_evidence_refuses_a_score_outside_0_1(score: float) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        MemoryEvidence().record_judgement("m", "low", score)


def test_memory_evidence_refuses_a_decay_outside_0_1() -> None:
    with pytest.raises(ValueError, match="decay"):
        MemoryEvidence(decay=0.0)


# -- exploration weighted by the money at stake ------------------------------------------

PAID_MID = model("paid-mid", free=False, quality=0.9)
PAID_TOP = model("paid-top", free=False, quality=0.97, caps=("vision",))


def saving_runs(n: int, stats: dict[str, Evidence], **overrides: Any) -> list[Any]:
    """``n`` careful, justified medium-tier decisions with 10% exploration."""
    rng = random.Random(11)
    values: dict[str, Any] = {
        "models": [PAID_MID, PAID_TOP],
        "worst_case_usd": {"paid-mid": 0.001, "paid-top": 0.03},
        "justification_valid": True,
        "exploration": Exploration(share=0.1, paid_usd_left=0.0),
        "stats": stats,
    }
    values.update(overrides)
    return [decide(inputs(rng=rng, **values)) for _ in range(n)]


def trapped(judged: float, good: float) -> dict[str, Evidence]:
    """paid-mid (prior 0.9) under the medium bar 0.75 after ``good`` of ``judged``."""
    return {
        "paid-mid": Evidence("paid-mid", "medium", judged=judged, judged_score_sum=good,
                             calls=judged),
        "paid-top": Evidence("paid-top", "medium", judged=20.0, judged_score_sum=19.0,
                             calls=20.0),
    }  # fmt: skip


def saved(runs: list[Any]) -> int:
    return sum(d.reason_code == "explore_saving" for d in runs)


def test_a_trapped_cheaper_model_is_explored_more_than_a_settled_one() -> None:
    # Few bad answers (1 good of 6): the mean is under the bar, but the posterior could
    # still meet it. 200 answers at the same mean: it almost surely does not.
    few, many = trapped(6.0, 1.0), trapped(200.0, 200.0 * 14.5 / 21.0)
    on_means = inputs(models=[PAID_MID, PAID_TOP], stats=few, justification_valid=True,
                      worst_case_usd={"paid-mid": 0.001, "paid-top": 0.03})  # fmt: skip
    assert decide(on_means).chosen == "paid-top"
    runs = saving_runs(2000, few)
    assert all(d.chosen == "paid-mid" for d in runs if d.reason_code == "explore_saving")
    assert all(d.explored for d in runs if d.reason_code == "explore_saving")
    assert saved(runs) > 3 * max(1, saved(saving_runs(2000, many)))


def test_the_more_money_at_stake_the_more_a_trapped_model_is_explored() -> None:
    dear = saved(saving_runs(2000, trapped(6.0, 1.0)))
    close = saved(
        saving_runs(2000, trapped(6.0, 1.0), worst_case_usd={"paid-mid": 0.001, "paid-top": 0.0012})
    )
    assert dear > 3 * max(1, close)


def test_no_saving_exploration_when_exploration_is_off() -> None:
    for off in ({"exploration": Exploration(share=0.0)}, {"rng": None}):
        values: dict[str, Any] = {
            "models": [PAID_MID, PAID_TOP],
            "worst_case_usd": {"paid-mid": 0.001, "paid-top": 0.03},
            "justification_valid": True,
            "stats": trapped(6.0, 1.0),
            "exploration": Exploration(share=0.1),
            "rng": random.Random(2),
        }
        values.update(off)
        decisions = [decide(inputs(**values)) for _ in range(300)]
        assert {d.chosen for d in decisions} == {"paid-top"}
        assert not any(d.explored for d in decisions)


def test_a_model_whose_prior_is_under_the_bar_is_left_to_the_draws() -> None:
    # The same posterior (1 good of 6 over a prior of 0.7): the catalog, not bad luck,
    # puts it under the bar, so the money at stake does not make it explored more.
    under_prior = model("paid-mid", free=False, quality=0.7)
    runs = saving_runs(2000, trapped(6.0, 1.0), models=[under_prior, PAID_TOP])
    assert saved(runs) == 0


def test_saving_weight_zero_turns_only_the_money_weighted_exploration_off() -> None:
    off = Exploration(share=0.1, paid_usd_left=0.0, saving_weight=0.0)
    assert saved(saving_runs(2000, trapped(6.0, 1.0), exploration=off)) == 0
    with pytest.raises(ValueError, match="saving_weight"):
        Exploration(saving_weight=-1.0)


def test_saving_exploration_never_picks_an_incapable_or_unaffordable_model() -> None:
    # A vision request: paid-mid lacks vision, so it is never explored, trapped or not.
    runs = saving_runs(1000, trapped(6.0, 1.0), needs=frozenset({"vision"}))
    assert {d.chosen for d in runs} == {"paid-top"}
    # paid-mid is trapped but its worst case exceeds what is left of the limit (paid-top
    # is then dropped too): nothing paid is chosen, explored or not.
    runs = saving_runs(
        500, trapped(6.0, 1.0), models=[FREE_WEAK, PAID_MID, PAID_TOP], remaining_usd=0.0005
    )
    assert {d.chosen for d in runs} == {"free-weak"}
    # With money set aside for nothing, a saving exploration still spends less than the
    # decision on the means: it only ever picks the cheaper model.
    runs = saving_runs(2000, trapped(6.0, 1.0))
    chosen = {d.chosen for d in runs if d.explored}
    assert chosen
    assert chosen <= {"paid-mid", "paid-top"}
    assert all(d.chosen == "paid-mid" for d in runs if d.reason_code == "explore_saving")


def test_unlimited_does_not_explore_to_save_money() -> None:
    runs = saving_runs(1000, trapped(6.0, 1.0), profile=BudgetProfile.UNLIMITED)
    assert saved(runs) == 0
