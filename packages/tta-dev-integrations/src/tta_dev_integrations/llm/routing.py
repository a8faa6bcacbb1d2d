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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from math import erfc, sqrt
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


_FAILED = "failed earlier in this request"
_EXHAUSTED = "free-tier quota exhausted"
_PAID_UNDER_FREE = "paid models are never used under the free profile"


def _unavailable(provider: str) -> str:
    return f"provider {provider} is not available (no key, or not answering)"


def _lacks(needs: frozenset[str], capabilities: frozenset[str]) -> str:
    return f"lacks {', '.join(sorted(needs - capabilities))}"


def _over_budget(worst: float, left: float) -> str:
    return f"worst case ${worst:.6f} exceeds the ${left:.6f} left"


_new_candidate = tuple.__new__
# A candidate's fields, in Candidate's order, before it is made.
_Fields = tuple[str, str, bool, float, float, bool, str, float, float, float | None]
_INF = float("inf")
_RELIABILITY_SERVED = RELIABILITY_PRIOR * RELIABILITY_PRIOR_CALLS
_SQRT2 = sqrt(2.0)
_FREE_MEETS_BAR = "a free model meets the quality bar"
NOT_JUSTIFIED = "paid, and no valid justification"
"""The reason given for a paid model held back by the careful profile."""


@cache
def _normal_quantiles() -> tuple[float, ...]:
    """Standard normal quantiles at (i + 0.5) / 1024, made on the first sampled decision.

    A draw is ten random bits and a lookup (~0.1 us against ~0.4 us for random.gauss),
    with tails to +-3.3 deviations. Not at import: ``statistics`` costs ~2.5 ms to load.
    """
    from statistics import NormalDist

    return tuple(NormalDist().inv_cdf((i + 0.5) / 1024) for i in range(1024))


def decide(inputs: RoutingInputs) -> RoutingDecision:
    """Choose a model for a request under a profile (see the module docstring)."""
    explore = _explores(inputs)
    bits = inputs.rng.getrandbits if explore and inputs.rng is not None else None
    candidates, kept, paid_floor, held_under = _candidates(inputs, bits)
    bar = QUALITY_BAR[inputs.tier]
    chosen, reason, code = _choose(kept, inputs, bar, paid_floor)
    if explore:
        usual = _beyond_paid_budget(chosen, inputs)
        if usual is not None:
            return usual
        reason, code = f"exploring (a posterior draw): {reason}", "explore"
    elif (
        chosen is not None
        and chosen[4] > 0.0
        and inputs.rng is not None
        and inputs.exploration.share > 0.0
        and inputs.profile is not BudgetProfile.UNLIMITED
        and held_under
    ):
        cheaper = _saving_exploration(kept, held_under, chosen, inputs, paid_floor)
        if cheaper is not None:
            chosen, explore = cheaper, True
            reason, code = (
                f"exploring a cheaper model that may meet the {inputs.tier} bar {bar} "
                f"({_figures(cheaper)}) instead of {reason}",
                "explore_saving",
            )
    failed = inputs.failed
    return RoutingDecision(
        profile=inputs.profile.value,
        complexity=inputs.tier,
        complexity_source="given",
        complexity_reasons=(),
        candidates=tuple(candidates),
        chosen=chosen.model if chosen else None,
        reason=reason,
        reason_code=code,
        justification_valid=inputs.justification_valid,
        failed=tuple(sorted(failed)) if failed else (),
        explored=explore,
    )


def _saving_exploration(
    kept: list[Candidate],
    held_under: list[str],
    chosen: Candidate,
    inputs: RoutingInputs,
    paid_floor: float,
) -> Candidate | None:
    """A cheaper model to explore instead of ``chosen`` (paid, the means' choice), or None.

    Exploration weighted by the money at stake (see the policy module). A kept model
    cheaper than the choice, whose catalog prior meets the bar but whose posterior mean
    is under it, is *trapped* if a few bad judged answers put it there: nothing but
    exploration brings it the traffic that would show it meets the bar. Each weighs
    ``p * ratio``: ``p`` the posterior probability that it meets the bar (normal, from
    the Beta's mean and spread), ``ratio`` the choice's cost over its own in the value
    rule's units (worst case plus the cheapest kept paid worst case): how many times
    more each decision pays while it stays trapped. One is explored with probability
    ``share * saving_weight * sum(p * ratio) * judged / (calls + 1) * narrowing`` (at
    most 1; nothing before an answer on the tier is judged), drawn in proportion to its
    weight. It costs less than the choice, so the money set aside is never touched.
    """
    saving = inputs.exploration.saving_weight
    if saving <= 0.0:
        return None
    floor = paid_floor if paid_floor < _INF else 1.0
    top, bar = chosen[4] + floor, QUALITY_BAR[inputs.tier]
    trapped: list[tuple[Candidate, float]] = []
    total = 0.0
    for c in kept:
        cost, mean = c[4], c[3]
        if cost < chosen[4] and c[0] in held_under:
            spread = sqrt(mean * (1.0 - mean) / (PRIOR_JUDGED + c[8] + 1.0))
            if spread > 0.0:
                weight = 0.5 * erfc((bar - mean) / (spread * _SQRT2)) * top / (cost + floor)
                trapped.append((c, weight))
                total += weight
    if not trapped:
        return None
    rng = inputs.rng
    if rng is None or not rng.random() < inputs.exploration.share * saving * total * (
        _learning_rate(inputs, first=0.0)
    ):
        return None
    pick = rng.random() * total
    for c, weight in trapped:
        pick -= weight
        if pick < 0.0:
            return c
    return trapped[-1][0]


def _candidates(
    inputs: RoutingInputs, bits: Callable[[int], int] | None
) -> tuple[list[Candidate], list[Candidate], float, list[str]]:
    """One pass over the models: every candidate, the kept ones, the cheapest kept paid.

    Also the models not dropped whose prior meets the bar and posterior mean does not
    (held under the bar by their judged answers: the money-weighted exploration's).

    ``bits`` (a random generator's ``getrandbits``) when the decision explores. The
    cheapest kept paid model's worst case (over 0) is infinite when none is kept.
    """
    normal = _normal_quantiles() if bits is not None else ()
    tier, profile, stats, bar = inputs.tier, inputs.profile, inputs.stats, QUALITY_BAR[inputs.tier]
    failed, available, needs = inputs.failed, inputs.available_providers, inputs.needs
    exhausted, costs = inputs.quota_exhausted, inputs.worst_case_usd
    # A paid model passes the profile and budget checks when its worst case fits.
    remaining = inputs.remaining_usd
    limit = -1.0 if profile is BudgetProfile.FREE else _INF if remaining is None else remaining
    paid_drop = _PAID_UNDER_FREE if profile is BudgetProfile.FREE else None
    # Under careful, a kept paid model's fate waits for the free ones (the gate):
    # its fields are held in ``held`` and its slot in ``candidates`` filled after.
    gated = profile is BudgetProfile.CAREFUL
    held: list[tuple[int, _Fields]] = []
    candidates: list[Candidate] = []
    kept: list[Candidate] = []
    # Whether a kept free model meets the bar; the cheapest kept paid worst case (> 0).
    free_meets_bar, paid_floor, held_under = False, _INF, list[str]()
    for model in inputs.models:
        alias, provider, free, prior = model.alias, model.provider, model.free, model.quality[tier]
        cost = costs.get(alias, 0.0)
        # The first rule that drops the model, or None (see the module docstring).
        drop = (
            _FAILED if alias in failed
            else _unavailable(provider) if provider not in available
            else _lacks(needs, model.capabilities) if needs and not needs <= model.capabilities
            else _EXHAUSTED if alias in exhausted
            else None if free or not cost > limit
            else paid_drop or _over_budget(cost, limit)
        )  # fmt: skip
        seen = stats.get(alias)
        if seen is None:
            quality = mean = prior
            weight, rel, judged, latency = PRIOR_JUDGED, RELIABILITY_PRIOR, 0.0, None
        else:
            ev = seen if type(seen) is Evidence else _as_evidence(seen, tier)
            judged, calls = ev.judged, ev.calls
            weight = PRIOR_JUDGED + judged
            quality = mean = (PRIOR_JUDGED * prior + ev.judged_score_sum) / weight
            rel = (_RELIABILITY_SERVED + calls - ev.errors) / (RELIABILITY_PRIOR_CALLS + calls)
            latency = ev.mean_latency_s
        if drop is not None:
            candidates.append(
                _new_candidate(Candidate, (alias, provider, free, quality, cost, False, drop, rel,
                                           judged, latency))
            )  # fmt: skip
            continue
        # Optimistic Thompson sampling (May et al., JMLR 2012) when exploring: a draw from
        # the posterior (normal, from the Beta's mean and spread), where a draw under the
        # mean counts as the mean, so an unproven model gets its chance without a proven
        # one falling below what it is known to do.
        if bits is not None and (z := normal[bits(10)]) > 0.0:
            draw = mean + sqrt(mean * (1.0 - mean) / (weight + 1.0)) * z
            quality = draw if draw < 1.0 else 1.0
        if mean < bar <= prior:
            held_under.append(alias)
        fields = (alias, provider, free, quality, cost, True, "allowed", rel, judged, latency)
        if free:
            free_meets_bar = free_meets_bar or quality >= bar
        else:
            if gated:
                held.append((len(candidates), fields))
                candidates.append(fields)  # type: ignore[arg-type]  # replaced below
                continue
            if 0.0 < cost < paid_floor:
                paid_floor = cost
        candidate = _new_candidate(Candidate, fields)
        candidates.append(candidate)
        kept.append(candidate)
    if held:
        kept, paid_floor = _gate(candidates, kept, held, inputs, free_meets_bar)
    return candidates, kept, paid_floor, held_under


def _explores(inputs: RoutingInputs) -> bool:
    """Whether this decision draws from the posteriors (the policy module's "Exploration").

    Within the operator's share, with the probability that an answer on this tier is
    judged, ``(judged + 1) / (calls + 1)`` (an exploring call whose answer nobody judges
    costs quality and teaches nothing), times the prior's weight in the average model's
    posterior on the tier, ``PRIOR_JUDGED / (PRIOR_JUDGED + judged / models)`` (exploring
    falls as the posteriors narrow). A tier whose answers were never
    judged in :data:`UNJUDGED_CALLS_STOP` calls is not explored at all.
    """
    rng, share = inputs.rng, inputs.exploration.share
    if rng is None or share <= 0.0 or rng.random() >= share:
        return False
    return rng.random() < _learning_rate(inputs, first=1.0)


def _learning_rate(inputs: RoutingInputs, *, first: float) -> float:
    """``(judged + first) / (calls + 1)`` on the tier (at most 1), times the narrowing.

    The narrowing, ``PRIOR_JUDGED / (PRIOR_JUDGED + judged / models)``, falls as the
    evidence outweighs the priors; 0 for a tier whose answers were never judged in
    :data:`UNJUDGED_CALLS_STOP` calls.
    """
    calls = judged = 0.0
    stats = inputs.stats
    for seen in stats.values():
        ev = seen if type(seen) is Evidence else _as_evidence(seen, inputs.tier)
        calls += ev.calls
        judged += ev.judged
    if judged <= 0.0:
        return 0.0 if first <= 0.0 or calls >= UNJUDGED_CALLS_STOP else first / (calls + 1.0)
    narrowing = PRIOR_JUDGED / (PRIOR_JUDGED + judged / len(stats))
    return min(1.0, (judged + first) / (calls + 1.0)) * narrowing


def _beyond_paid_budget(chosen: Candidate | None, inputs: RoutingInputs) -> RoutingDecision | None:
    """The decision on the means, if the exploring one spends more than is set aside.

    An exploring choice of a paid model whose worst case exceeds the money left for
    paid exploration stands only if the decision on the means spends at least as much.
    """
    left = inputs.exploration.paid_usd_left
    if chosen is None or chosen.free or left is None or not chosen.worst_case_usd > left:
        return None
    usual = decide(replace(inputs, exploration=NO_EXPLORATION))
    pick = usual.chosen
    if pick is None or pick == chosen.model:
        return None
    return usual if chosen.worst_case_usd > inputs.worst_case_usd.get(pick, 0.0) else None


def _gate(
    candidates: list[Candidate],
    kept: list[Candidate],
    held: list[tuple[int, _Fields]],
    inputs: RoutingInputs,
    free_meets: bool,
) -> tuple[list[Candidate], float]:
    """The careful profile's rule on the kept paid models ``held`` back by the pass.

    Fills their slots in ``candidates``; returns the kept models (in catalog order) and
    the cheapest kept paid model's worst case.
    """
    if free_meets:
        reason = _FREE_MEETS_BAR
    elif not inputs.justification_valid:
        reason = NOT_JUSTIFIED
    else:
        floor = _INF
        for i, fields in held:
            candidates[i] = _new_candidate(Candidate, fields)
            cost = fields[4]
            if 0.0 < cost < floor:
                floor = cost
        return [c for c in candidates if c[5]], floor
    for i, fields in held:
        candidates[i] = _new_candidate(Candidate, (*fields[:5], False, reason, *fields[7:]))
    return kept, _INF


def _as_evidence(seen: Evidence | ModelStats, tier: Complexity) -> Evidence:
    if isinstance(seen, ModelStats):
        return evidence_from_model_stats(seen, tier)
    return seen


def _choose(
    kept: list[Candidate], inputs: RoutingInputs, bar: float, paid_floor: float
) -> tuple[Candidate | None, str, str]:
    """The rule of the module docstring over the kept candidates, in one pass each."""
    if not kept:
        return None, "no allowed model can serve this request", "none"
    tier = inputs.tier
    if inputs.profile is not BudgetProfile.UNLIMITED:
        floor = paid_floor if paid_floor < _INF else 1.0
        best: Candidate | None = None
        top = -1.0
        for c in kept:
            quality = c[3]
            if quality >= bar:
                score = quality * c[7] / (c[4] + floor)
                if score > top or (score == top and _faster(c, best)):
                    best, top = c, score
        if best is not None:
            kind = "free" if best.free else "paid, justified"
            return (
                best,
                f"best quality per cost among models meeting the {tier} bar {bar} "
                f"({kind}, {_figures(best)})",
                "best_value_meeting_bar",
            )
    # The best value, ties to the cheaper: unlimited, or nothing meets the bar.
    best = kept[0]
    value, saving = best[3] * best[7], -best[4]
    for c in kept:
        v, s = c[3] * c[7], -c[4]
        if v > value or (v == value and (s > saving or (s == saving and _faster(c, best)))):
            best, value, saving = c, v, s
    if inputs.profile is BudgetProfile.UNLIMITED:
        return best, f"best expected quality for {tier} ({_figures(best)})", "best"
    return (
        best,
        f"no allowed model meets the {tier} bar {bar}; best available ({_figures(best)})",
        "best_available",
    )


def _faster(c: Candidate, best: Candidate | None) -> bool:
    """Whether ``c`` wins an exact tie against ``best``: a lower mean latency."""
    return best is not None and (c.mean_latency_s or 1e9) < (best.mean_latency_s or 1e9)


def _figures(c: Candidate) -> str:
    return (
        f"quality {c.expected_quality:.3f} from {c.judged:g} judged answers, "
        f"reliability {c.reliability:.3f}"
    )
