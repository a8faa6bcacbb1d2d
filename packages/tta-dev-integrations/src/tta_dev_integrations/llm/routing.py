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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from tta_dev_integrations.llm.budget.ledger import ModelStats
from tta_dev_integrations.llm.budget.profiles import BudgetProfile
from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.complexity import Complexity

__all__ = [
    "LEARNING_CALLS",
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


@dataclass(frozen=True, slots=True)
class Candidate:
    """One model the router looked at, and what it concluded."""

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
    """The catalog's quality for ``tier``, blended with observed success once known."""
    prior = model.quality[tier]
    if stats is None or stats.calls < LEARNING_CALLS:
        return prior
    good = stats.successes - stats.feedback_bad + stats.feedback_good
    observed = max(0.0, min(1.0, good / (stats.calls + stats.feedback_good)))
    weight = min(0.5, stats.calls / 100)  # the prior fades, but never below half
    return (1 - weight) * prior + weight * observed


def _first_drop(model: ModelInfo, inputs: RoutingInputs) -> str | None:
    if model.alias in inputs.failed:
        return "failed earlier in this request"
    if model.provider not in inputs.available_providers:
        return f"provider {model.provider} is not available (no key, or not answering)"
    missing = sorted(inputs.needs - model.capabilities)
    if missing:
        return f"lacks {', '.join(missing)}"
    if model.alias in inputs.quota_exhausted:
        return "free-tier quota exhausted"
    if not model.free:
        if inputs.profile is BudgetProfile.FREE:
            return "paid models are never used under the free profile"
        worst = inputs.worst_case_usd.get(model.alias, 0.0)
        if inputs.remaining_usd is not None and worst > inputs.remaining_usd:
            return f"worst case ${worst:.6f} exceeds the ${inputs.remaining_usd:.6f} left"
    return None


def decide(inputs: RoutingInputs) -> RoutingDecision:
    """Choose a model for a request under a profile (see the module docstring)."""
    bar = QUALITY_BAR[inputs.tier]
    considered: list[Candidate] = []
    for model in inputs.models:
        quality = expected_quality(model, inputs.tier, inputs.stats.get(model.alias))
        drop = _first_drop(model, inputs)
        considered.append(
            Candidate(
                model=model.alias,
                provider=model.provider,
                free=model.free,
                expected_quality=round(quality, 4),
                worst_case_usd=inputs.worst_case_usd.get(model.alias, 0.0),
                kept=drop is None,
                reason=drop or "allowed",
            )
        )
    free_meets_bar = any(c.kept and c.free and c.expected_quality >= bar for c in considered)
    if inputs.profile is BudgetProfile.CAREFUL:
        considered = [
            _careful_gate(c, free_meets_bar, inputs.justification_valid) for c in considered
        ]
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


def _careful_gate(candidate: Candidate, free_meets_bar: bool, justified: bool) -> Candidate:
    if candidate.free or not candidate.kept:
        return candidate
    if free_meets_bar:
        return replace(candidate, kept=False, reason="a free model meets the quality bar")
    if not justified:
        return replace(candidate, kept=False, reason="paid, and no valid justification")
    return candidate


def _choose(
    kept: list[Candidate], inputs: RoutingInputs, bar: float
) -> tuple[Candidate | None, str, str]:
    if not kept:
        return None, "no allowed model can serve this request", "none"
    stats = inputs.stats

    def observed(c: Candidate) -> tuple[float, float]:
        s = stats.get(c.model)
        rate = s.success_rate if s is not None and s.success_rate is not None else 0.0
        latency = s.mean_latency_s if s is not None and s.mean_latency_s is not None else 1e9
        return -rate, latency

    if inputs.profile is BudgetProfile.UNLIMITED:
        best = min(kept, key=lambda c: (-c.expected_quality, c.worst_case_usd, *observed(c)))
        return best, f"best expected quality for {inputs.tier} ({best.expected_quality})", "best"
    meeting = [c for c in kept if c.expected_quality >= bar]
    if meeting:
        best = min(meeting, key=lambda c: (c.worst_case_usd, *observed(c)))
        kind = "free" if best.free else "paid, justified"
        return (
            best,
            f"cheapest model meeting the {inputs.tier} bar {bar} ({kind})",
            "cheapest_meeting_bar",
        )
    best = min(kept, key=lambda c: (-c.expected_quality, c.worst_case_usd, *observed(c)))
    return (
        best,
        f"no allowed model meets the {inputs.tier} bar {bar}; best available "
        f"({best.expected_quality})",
        "best_available",
    )
