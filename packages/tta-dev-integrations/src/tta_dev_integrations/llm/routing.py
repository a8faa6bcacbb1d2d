"""Choosing a model: a pure function from what is known to a decision that explains itself.

:func:`decide` looks at every allowed model and keeps or drops it, with the reason:

1. dropped if it failed earlier in this request, its provider is not available (no
   key, not answering), it lacks a capability the request needs (tools, images, JSON),
   or its free-tier quota is exhausted;
2. a paid model is dropped under the ``free`` profile; under ``careful`` it is kept
   only when no kept free model meets the tier's quality bar *and* the request carries
   a valid justification; under any profile it is dropped when its worst-case cost does
   not fit in what is left of the monthly limit.

Each kept model has an *expected quality* for the tier (the posterior mean of
:mod:`~tta_dev_integrations.llm.policy`: the catalog's score as a prior, updated by
judged answers on that tier) and a *reliability* (share of calls without an error).
Then:

* ``free`` and ``careful``: among kept models whose expected quality meets the bar
  (:data:`QUALITY_BAR`), the best **value per cost**, where value is expected quality
  times reliability and cost is the worst case in dollars plus the cheapest kept paid
  model's worst case (0 for free models). So free models compare by value alone, a
  pricier paid model must be proportionally better, and quality above the bar counts.
  If none meets the bar, the best value;
* ``unlimited`` picks the best value, ties broken by cost.

Remaining ties go to the lower latency, then to the order of the list.

With :class:`~tta_dev_integrations.llm.policy.Exploration` and a random generator, a
share of decisions is made on optimistic draws from the posteriors instead of their
means (Thompson sampling); ``RoutingDecision.explored`` marks those decisions.

No I/O here: the caller gathers availability, quotas, evidence and the budget left.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from math import sqrt
from statistics import NormalDist
from typing import NamedTuple

from tta_dev_integrations.llm.budget.ledger import ModelStats
from tta_dev_integrations.llm.budget.profiles import BudgetProfile
from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.complexity import Complexity
from tta_dev_integrations.llm.policy import (
    NO_EXPLORATION,
    PRIOR_JUDGED,
    RELIABILITY_PRIOR,
    RELIABILITY_PRIOR_CALLS,
    UNJUDGED_CALLS_STOP,
    Evidence,
    Exploration,
)

__all__ = [
    "NOT_JUSTIFIED",
    "QUALITY_BAR",
    "Candidate",
    "RoutingDecision",
    "RoutingInputs",
    "decide",
    "evidence_from_model_stats",
    "expected_quality",
]

QUALITY_BAR: Mapping[Complexity, float] = {"low": 0.5, "medium": 0.75, "high": 0.85}
"""Expected quality a model needs for a tier: the share of the tier's answers judged good.

Read on the catalog's scale (its ``quality_sources["tiers"]``: published accuracies
corrected for guessing; low from a knowledge benchmark, high from GPQA Diamond, medium
their mean): low 0.5, at least half of simple requests answered well; medium 0.75, three
quarters of everyday multi-step work (models near the frontier on both benchmarks);
high 0.85, more than any shipped model's published reasoning score, so high-tier work
goes to the best available model and, under ``careful``, no free model holds the paid
ones back. Judged answers move a model over or under a bar (see the policy module).
"""


class Candidate(NamedTuple):
    """One model the router looked at, and what it concluded.

    A named tuple: the router makes one per catalog model per decision, and a frozen
    dataclass costs several times more to create. ``expected_quality`` is the value the
    decision used (a posterior draw when the decision explored); ``judged`` is how many
    judged answers on this tier it rests on.
    """

    model: str
    provider: str
    free: bool
    expected_quality: float
    worst_case_usd: float
    kept: bool
    reason: str
    reliability: float = RELIABILITY_PRIOR
    judged: float = 0.0
    mean_latency_s: float | None = None


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Why a model was chosen: shown as ``LLMResponse.routing``.

    ``request_id`` (the ledger entry, for ``record_feedback``), ``reservation_usd`` and
    ``budget_left_usd`` are filled in once the call is made (``None`` for free calls or
    without a limit). ``explored`` is true when a posterior draw, not the means, chose.
    ``max_output_tokens`` is the output cap a paid call was sent with (the reservation
    pays for exactly that many tokens); ``None`` for a free call.
    """

    profile: str
    complexity: Complexity
    complexity_source: str
    complexity_reasons: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    chosen: str | None
    reason: str
    reason_code: str
    coder: str = "none"
    justification_valid: bool = False
    justification_problems: tuple[str, ...] = ()
    justification_verified: bool | None = None
    failed: tuple[str, ...] = ()
    request_id: str = ""
    reservation_usd: float | None = None
    budget_left_usd: float | None = None
    explored: bool = False
    max_output_tokens: int | None = None

    def with_call(
        self, request_id: str, reservation_usd: float | None, budget_left_usd: float | None
    ) -> RoutingDecision:
        """The decision with its call's ledger id, money reserved and budget left after."""
        return replace(
            self,
            request_id=request_id,
            reservation_usd=reservation_usd,
            budget_left_usd=budget_left_usd,
        )


@dataclass(frozen=True, slots=True)
class RoutingInputs:
    """Everything :func:`decide` needs; gathered by the caller.

    ``stats`` maps a model alias to its :class:`~tta_dev_integrations.llm.policy.Evidence`
    on this request's tier. A ledger's older ``ModelStats`` (pooled over tiers) is read
    through :func:`evidence_from_model_stats`. ``rng`` draws the exploration; without
    one (or with ``exploration.share == 0``) the decision is deterministic.
    """

    models: Sequence[ModelInfo]
    profile: BudgetProfile
    tier: Complexity
    worst_case_usd: Mapping[str, float]
    available_providers: frozenset[str]
    needs: frozenset[str] = frozenset()
    remaining_usd: float | None = None
    justification_valid: bool = False
    quota_exhausted: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    stats: Mapping[str, Evidence | ModelStats] = field(default_factory=dict)
    exploration: Exploration = NO_EXPLORATION
    rng: random.Random | None = None


def evidence_from_model_stats(stats: ModelStats, tier: Complexity) -> Evidence:
    """Read pooled ledger statistics as evidence: only the feedback counts as judged."""
    judged = stats.feedback_good + stats.feedback_bad
    return Evidence(
        model=stats.model,
        tier=tier,
        judged=float(judged),
        judged_score_sum=float(stats.feedback_good),
        calls=float(stats.calls),
        errors=float(max(0, stats.calls - stats.successes)),
        mean_latency_s=stats.mean_latency_s,
    )


def expected_quality(model: ModelInfo, tier: Complexity, evidence: Evidence | None) -> float:
    """The posterior mean quality of ``model`` on ``tier`` (see the policy module)."""
    prior = model.quality[tier]
    if evidence is None or evidence.judged <= 0.0:
        return prior
    return (PRIOR_JUDGED * prior + evidence.judged_score_sum) / (PRIOR_JUDGED + evidence.judged)


def _first_drop(model: ModelInfo, inputs: RoutingInputs) -> str | None:
    if model.alias in inputs.failed:
        return "failed earlier in this request"
    if model.provider not in inputs.available_providers:
        return f"provider {model.provider} is not available (no key, or not answering)"
    if inputs.needs and not inputs.needs <= model.capabilities:
        return f"lacks {', '.join(sorted(inputs.needs - model.capabilities))}"
    if model.alias in inputs.quota_exhausted:
        return "free-tier quota exhausted"
    if not model.free:
        if inputs.profile is BudgetProfile.FREE:
            return "paid models are never used under the free profile"
        worst = inputs.worst_case_usd.get(model.alias, 0.0)
        if inputs.remaining_usd is not None and worst > inputs.remaining_usd:
            return f"worst case ${worst:.6f} exceeds the ${inputs.remaining_usd:.6f} left"
    return None


_new_candidate = tuple.__new__
_FREE_MEETS_BAR = "a free model meets the quality bar"
NOT_JUSTIFIED = "paid, and no valid justification"
"""The reason given for a paid model held back by the careful profile."""

# Standard normal quantiles at (i + 0.5) / 1024: a draw is ten random bits and a lookup
# (~0.1 us against ~0.4 us for random.gauss), with tails to +-3.3 deviations.
_NORMAL = tuple(NormalDist().inv_cdf((i + 0.5) / 1024) for i in range(1024))


def decide(inputs: RoutingInputs) -> RoutingDecision:
    """Choose a model for a request under a profile (see the module docstring)."""
    tier = inputs.tier
    bar = QUALITY_BAR[tier]
    stats = inputs.stats
    failed, available, needs = inputs.failed, inputs.available_providers, inputs.needs
    exhausted, costs = inputs.quota_exhausted, inputs.worst_case_usd
    explore = _explores(inputs)
    bits = inputs.rng.getrandbits if explore and inputs.rng is not None else None
    # Exploring with money set aside for paid models: the means and first drops are kept
    # for _within_budget.
    means: list[float] | None = None
    drops: list[str | None] = []
    if explore and inputs.exploration.paid_usd_left is not None:
        means = []
    candidates: list[Candidate] = []
    append = candidates.append
    free_meets_bar = False
    paid_kept: list[int] = []
    for model in inputs.models:
        alias, free = model.alias, model.free
        # The common case inline (a free model nothing rules out); the rest, with reasons,
        # in _first_drop.
        drop = (
            None
            if free
            and alias not in failed
            and model.provider in available
            and (not needs or needs <= model.capabilities)
            and alias not in exhausted
            else _first_drop(model, inputs)
        )
        seen = stats.get(alias)
        if seen is None:
            mean, weight, rel, judged, latency = (
                model.quality[tier], PRIOR_JUDGED, RELIABILITY_PRIOR, 0.0, None,
            )  # fmt: skip
        else:
            ev = seen if type(seen) is Evidence else _as_evidence(seen, tier)
            judged, calls = ev.judged, ev.calls
            weight = PRIOR_JUDGED + judged
            mean = (PRIOR_JUDGED * model.quality[tier] + ev.judged_score_sum) / weight
            rel = (RELIABILITY_PRIOR * RELIABILITY_PRIOR_CALLS + calls - ev.errors) / (
                RELIABILITY_PRIOR_CALLS + calls
            )
            latency = ev.mean_latency_s
        quality = mean
        if bits is not None:
            # Optimistic Thompson sampling (May et al., JMLR 2012): a draw from the
            # posterior (normal, from the Beta's mean and spread), where a draw under the
            # mean counts as the mean, so an unproven model gets its chance without a
            # proven one falling below what it is known to do.
            if means is not None:
                means.append(mean)
                drops.append(drop)
            if drop is None:
                z = _NORMAL[bits(10)]
                if z > 0.0:
                    draw = mean + sqrt(mean * (1.0 - mean) / (weight + 1.0)) * z
                    quality = draw if draw < 1.0 else 1.0
        if drop is None and not free:
            paid_kept.append(len(candidates))
        free_meets_bar = free_meets_bar or (free and drop is None and quality >= bar)
        # tuple.__new__ skips the named tuple's Python-level __new__ (50 per decision).
        append(
            _new_candidate(
                Candidate,
                (
                    alias,
                    model.provider,
                    free,
                    quality,
                    costs.get(alias, 0.0),
                    drop is None,
                    drop or "allowed",
                    rel,
                    judged,
                    latency,
                ),
            )
        )
    _gate(candidates, paid_kept, inputs, free_meets_bar)
    chosen, reason, code = _choose(candidates, inputs, bar)
    if explore:
        candidates, chosen, reason, code, explore = _within_budget(
            candidates, chosen, reason=reason, code=code, inputs=inputs, bar=bar, means=means,
            drops=drops,
        )  # fmt: skip
    return RoutingDecision(
        profile=inputs.profile.value,
        complexity=tier,
        complexity_source="given",
        complexity_reasons=(),
        candidates=tuple(candidates),
        chosen=chosen.model if chosen else None,
        reason=reason,
        reason_code=code,
        justification_valid=inputs.justification_valid,
        failed=tuple(sorted(inputs.failed)),
        explored=explore,
    )


def _explores(inputs: RoutingInputs) -> bool:
    """Whether this decision explores: within the share, and where answers get judged."""
    rng, share = inputs.rng, inputs.exploration.share
    if rng is None or share <= 0.0 or rng.random() >= share:
        return False
    calls = judged = 0.0
    for seen in inputs.stats.values():
        ev = seen if type(seen) is Evidence else _as_evidence(seen, inputs.tier)
        calls += ev.calls
        judged += ev.judged
    return judged > 0.0 or calls < UNJUDGED_CALLS_STOP  # never judged: nothing to learn


def _gate(
    candidates: list[Candidate], paid_kept: list[int], inputs: RoutingInputs, free_meets: bool
) -> None:
    """The careful profile's rule on kept paid models, applied in place."""
    if inputs.profile is not BudgetProfile.CAREFUL or not paid_kept:
        return
    if free_meets:
        reason = _FREE_MEETS_BAR
    elif not inputs.justification_valid:
        reason = NOT_JUSTIFIED
    else:
        return
    for i in paid_kept:
        c = candidates[i]
        candidates[i] = _new_candidate(Candidate, (*c[:5], False, reason, *c[7:]))


def _within_budget(
    candidates: list[Candidate],
    chosen: Candidate | None,
    *,
    reason: str,
    code: str,
    inputs: RoutingInputs,
    bar: float,
    means: list[float] | None,
    drops: list[str | None],
) -> tuple[list[Candidate], Candidate | None, str, str, bool]:
    """The exploring choice, unless it spends on a paid model more than is set aside."""
    left = inputs.exploration.paid_usd_left
    if chosen is not None and not chosen.free and left is not None and means is not None:
        usual = [
            _new_candidate(Candidate, (*c[:3], mean, c[4], drop is None, drop or "allowed",
                                       *c[7:]))
            for c, mean, drop in zip(candidates, means, drops, strict=True)
        ]  # fmt: skip
        paid_kept = [i for i, c in enumerate(usual) if c.kept and not c.free]
        free_meets = any(c.kept and c.free and c.expected_quality >= bar for c in usual)
        _gate(usual, paid_kept, inputs, free_meets)
        pick, usual_reason, usual_code = _choose(usual, inputs, bar)
        if (
            pick is not None
            and pick.model != chosen.model
            and chosen.worst_case_usd > left
            and chosen.worst_case_usd > pick.worst_case_usd
        ):
            return usual, pick, usual_reason, usual_code, False
    return candidates, chosen, f"exploring (a posterior draw): {reason}", "explore", True


def _as_evidence(seen: Evidence | ModelStats, tier: Complexity) -> Evidence:
    if isinstance(seen, ModelStats):
        return evidence_from_model_stats(seen, tier)
    return seen


def _choose(
    considered: list[Candidate], inputs: RoutingInputs, bar: float
) -> tuple[Candidate | None, str, str]:
    kept = [c for c in considered if c.kept]
    if not kept:
        return None, "no allowed model can serve this request", "none"
    tier = inputs.tier
    if inputs.profile is BudgetProfile.UNLIMITED:
        scores = [(c.expected_quality * c.reliability, -c.worst_case_usd) for c in kept]
        best = _best(kept, scores)
        return (
            best,
            f"best expected quality for {tier} ({_figures(best)})",
            "best",
        )
    meeting = [c for c in kept if c.expected_quality >= bar]
    if meeting:
        paid = [c.worst_case_usd for c in kept if not c.free and c.worst_case_usd > 0.0]
        floor = min(paid) if paid else 1.0
        scores = [
            (c.expected_quality * c.reliability / (c.worst_case_usd + floor), 0.0) for c in meeting
        ]
        best = _best(meeting, scores)
        kind = "free" if best.free else "paid, justified"
        return (
            best,
            f"best quality per cost among models meeting the {tier} bar {bar} "
            f"({kind}, {_figures(best)})",
            "best_value_meeting_bar",
        )
    scores = [(c.expected_quality * c.reliability, -c.worst_case_usd) for c in kept]
    best = _best(kept, scores)
    return (
        best,
        f"no allowed model meets the {tier} bar {bar}; best available ({_figures(best)})",
        "best_available",
    )


def _figures(c: Candidate) -> str:
    return (
        f"quality {c.expected_quality:.3f} from {c.judged:g} judged answers, "
        f"reliability {c.reliability:.3f}"
    )


def _best(candidates: list[Candidate], scores: list[tuple[float, float]]) -> Candidate:
    """The highest score; among exact ties the lower latency, then the first listed."""
    top = max(scores)
    tied = [c for c, score in zip(candidates, scores, strict=True) if score == top]
    if len(tied) == 1:
        return tied[0]
    return min(tied, key=lambda c: c.mean_latency_s or 1e9)
