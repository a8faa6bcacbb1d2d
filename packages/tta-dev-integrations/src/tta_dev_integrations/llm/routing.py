"""Choosing a model: a pure function from what is known to a decision that explains itself.

:func:`decide` looks at every allowed model and keeps or drops it, with the reason:

1. dropped if it failed earlier in this request, its provider is not available (no
   key, not answering), it lacks a capability the request needs (tools, images, JSON),
   or its free-tier quota is exhausted;
2. a paid model is dropped under the ``free`` profile; under ``careful`` it is kept
   only when no kept free model meets the tier's quality bar *and* the request carries
   a valid justification; under any profile it is dropped when its worst-case cost does
   not fit in what is left of the monthly limit.

Each kept model has an *expected quality* for the tier: the catalog's score, blended
with the observed success rate once the ledger has seen enough calls
(:data:`LEARNING_CALLS`). Then:

* ``free`` and ``careful`` pick the **cheapest** kept model whose expected quality meets
  the bar (:data:`QUALITY_BAR`), ties broken by observed success rate, then latency; if
  none meets it, the kept model with the best expected quality;
* ``unlimited`` picks the **best** expected quality, ties broken by cost.

No I/O here: the caller gathers availability, quotas, stats and the budget left.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from tta_dev_integrations.llm.budget.ledger import ModelStats
from tta_dev_integrations.llm.budget.profiles import BudgetProfile
from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.complexity import Complexity

__all__ = [
    "LEARNING_CALLS",
    "NOT_JUSTIFIED",
    "QUALITY_BAR",
    "Candidate",
    "RoutingDecision",
    "RoutingInputs",
    "decide",
    "expected_quality",
]

QUALITY_BAR: Mapping[Complexity, float] = {"low": 0.5, "medium": 0.75, "high": 0.85}
"""Expected quality a model needs for a tier."""

LEARNING_CALLS = 5
"""Calls a model needs in the ledger before observed outcomes weigh on its quality."""


class Candidate(NamedTuple):
    """One model the router looked at, and what it concluded.

    A named tuple: the router makes one per catalog model per decision, and a frozen
    dataclass costs several times more to create.
    """

    model: str
    provider: str
    free: bool
    expected_quality: float
    worst_case_usd: float
    kept: bool
    reason: str


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Why a model was chosen: shown as ``LLMResponse.routing``.

    ``request_id`` (the ledger entry, for ``record_feedback``), ``reservation_usd`` and
    ``budget_left_usd`` are filled in once the call is made (``None`` for free calls or
    without a limit).
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
    """Everything :func:`decide` needs; gathered by the caller."""

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
    stats: Mapping[str, ModelStats] = field(default_factory=dict)


def expected_quality(model: ModelInfo, tier: Complexity, stats: ModelStats | None) -> float:
    """The catalog's quality for ``tier``, blended with observed success once known.

    After :data:`LEARNING_CALLS` calls the observed rate (successes, corrected by the
    callers' feedback) weighs ``calls / 100``, at most one half: the prior fades but
    never vanishes.
    """
    prior = model.quality[tier]
    if stats is None or stats.calls < LEARNING_CALLS:
        return prior
    calls = stats.calls
    observed = (stats.successes - stats.feedback_bad + stats.feedback_good) / (
        calls + stats.feedback_good
    )
    if observed < 0.0:
        observed = 0.0
    elif observed > 1.0:
        observed = 1.0
    weight = calls / 100 if calls < 50 else 0.5
    return prior + weight * (observed - prior)


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


def decide(inputs: RoutingInputs) -> RoutingDecision:
    """Choose a model for a request under a profile (see the module docstring)."""
    bar = QUALITY_BAR[inputs.tier]
    tier, stats, costs = inputs.tier, inputs.stats, inputs.worst_case_usd
    # One pass for the drops and qualities; the careful profile's gate on paid models
    # needs to know whether a kept free model meets the bar, so candidates are made after.
    looked: list[tuple[ModelInfo, float, str | None]] = []
    free_meets_bar = False
    for model in inputs.models:
        observed = stats.get(model.alias)
        quality = (
            model.quality[tier] if observed is None else expected_quality(model, tier, observed)
        )
        drop = _first_drop(model, inputs)
        if drop is None and model.free and quality >= bar:
            free_meets_bar = True
        looked.append((model, quality, drop))
    careful = inputs.profile is BudgetProfile.CAREFUL
    justified = inputs.justification_valid
    considered = []
    for model, quality, first_drop in looked:
        drop = first_drop
        if careful and drop is None and not model.free:
            if free_meets_bar:
                drop = _FREE_MEETS_BAR
            elif not justified:
                drop = NOT_JUSTIFIED
        # tuple.__new__ skips the named tuple's Python-level __new__ (50 per decision).
        considered.append(
            _new_candidate(
                Candidate,
                (
                    model.alias,
                    model.provider,
                    model.free,
                    quality,
                    costs.get(model.alias, 0.0),
                    drop is None,
                    drop or "allowed",
                ),
            )
        )
    kept = [c for c in considered if c.kept]
    chosen, reason, code = _choose(kept, inputs, bar)
    return RoutingDecision(
        profile=inputs.profile.value,
        complexity=inputs.tier,
        complexity_source="given",
        complexity_reasons=(),
        candidates=tuple(considered),
        chosen=chosen.model if chosen else None,
        reason=reason,
        reason_code=code,
        justification_valid=inputs.justification_valid,
        failed=tuple(sorted(inputs.failed)),
    )


def _choose(
    kept: list[Candidate], inputs: RoutingInputs, bar: float
) -> tuple[Candidate | None, str, str]:
    if not kept:
        return None, "no allowed model can serve this request", "none"
    if inputs.profile is BudgetProfile.UNLIMITED:
        best = _break_ties(kept, inputs, lambda c: (-c.expected_quality, c.worst_case_usd))
        return (
            best,
            f"best expected quality for {inputs.tier} ({best.expected_quality:.3f})",
            "best",
        )
    meeting = [c for c in kept if c.expected_quality >= bar]
    if meeting:
        best = _break_ties(meeting, inputs, lambda c: (c.worst_case_usd, 0.0))
        kind = "free" if best.free else "paid, justified"
        return (
            best,
            f"cheapest model meeting the {inputs.tier} bar {bar} ({kind})",
            "cheapest_meeting_bar",
        )
    best = _break_ties(kept, inputs, lambda c: (-c.expected_quality, c.worst_case_usd))
    return (
        best,
        f"no allowed model meets the {inputs.tier} bar {bar}; best available "
        f"({best.expected_quality:.3f})",
        "best_available",
    )


def _break_ties(
    candidates: list[Candidate],
    inputs: RoutingInputs,
    rank: Callable[[Candidate], tuple[float, float]],
) -> Candidate:
    """The best by ``rank``; among exact ties, the better observed success, then latency."""
    best_rank = min(map(rank, candidates))
    tied = [c for c in candidates if rank(c) == best_rank]
    if len(tied) == 1:
        return tied[0]

    def observed(c: Candidate) -> tuple[float, float]:
        stats = inputs.stats.get(c.model)
        rate = stats.success_rate if stats is not None and stats.success_rate is not None else 0.0
        latency = stats.mean_latency_s if stats is not None and stats.mean_latency_s else 1e9
        return -rate, latency

    return min(tied, key=observed)
