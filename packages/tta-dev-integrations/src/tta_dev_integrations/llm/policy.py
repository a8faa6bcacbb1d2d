"""What the router believes about a model on a tier: quality, reliability, and how unsure.

Two figures per ``(model, tier)``, learnt apart so that neither inflates the other:

* **quality**: the share of *judged* answers that were good. Only judged answers count
  (``record_feedback(request_id, ok | score)`` or an evaluator hook, a score in [0, 1]);
  a call that merely returned without an error says nothing about its quality. The
  catalog's score is a Beta prior worth :data:`PRIOR_JUDGED` judged answers, so the
  posterior mean is ``(PRIOR_JUDGED * prior + score_sum) / (PRIOR_JUDGED + judged)``:
  fifteen judged answers move a wrong prior half way to the truth, 135 nine tenths of
  the way, and nothing caps the correction. (15 measured best of 10, 15 and 20 in
  ``benchmarks/bench_routing_sim.py``: fewer lets sampling noise push a good model under
  the bar, more learns a wrong prior slowly.)
* **reliability**: the share of calls that returned without an error or a timeout, with
  a prior of :data:`RELIABILITY_PRIOR` worth :data:`RELIABILITY_PRIOR_CALLS` calls. The
  router ranks models by quality times reliability; the quality bar is met on quality
  alone.

Counts are floats: the store that gathers them applies a window or a decay (the ledger
reads the last :data:`WINDOW_DAYS` days; the benchmarks' in-memory store multiplies the
old counts by a factor per observation), so a model that changes is re-learnt. The
task's kind (tools, images, JSON) is not a dimension of the evidence: a model lacking
the capability is dropped before quality matters, and splitting each tier three more
ways would leave each pair with a third of the judged answers.

Exploration (:class:`Exploration`) is Thompson sampling on a share of the decisions the
operator sets: on those, each kept model's quality is an optimistic draw from its
posterior (a normal with the Beta's mean and spread; a draw under the mean counts as the
mean; ``random.betavariate`` costs several times more and changes nothing the router
sees), so a model whose prior is under the bar earns traffic with the probability that it
truly meets it. An over-rated model loses its traffic as its judged answers come in.
A paid model is explored only within ``paid_usd_left``, the money the operator sets aside
for it. An exploring call teaches something only if its answer is judged, so a decision
within the share explores with the probability that an answer on its tier is judged,
``(judged + 1) / (calls + 1)`` over the tier's evidence: at 20% feedback, a fifth of the
share (measured in ``benchmarks/bench_routing_sim.py``: against exploring on the whole
share, it halved the gap to the tier oracle after learning a wrong prior, and with
correct priors removed exploration's cost in quality), and times the prior's weight in the
average model's posterior on the tier, ``15 / (15 + judged per model)``, so that exploring
falls as the evidence outweighs the priors. Exploration stops for a tier where answers are
never judged (after :data:`UNJUDGED_CALLS_STOP` calls without one).

**Exploration weighted by the money at stake.** Draws on a share of decisions leave a
*trap*: a few bad early judged answers put a cheap model's posterior under the bar (its
catalog prior and its truth over it); a dearer model is then chosen on every request of
the tier, and the cheap one, getting no traffic, never shows otherwise. So on every
decision that does not draw, when the means' choice is paid, each kept model cheaper than
it whose prior meets the bar and whose posterior mean does not weighs ``p * ratio``:
``p`` the posterior probability that it meets the bar, ``ratio`` the choice's cost over
its own in the value rule's units (worst case plus the cheapest kept paid worst case),
how many times more every request pays while the trap holds. One of them is explored
with probability ``share * saving_weight * sum(p * ratio) * judged / (calls + 1) *
narrowing`` (at most 1), drawn in proportion to its weight: never before an answer on the
tier is judged, falling as the trapped model's own evidence settles ``p``, and at a 30x
price far more than at 2x. A model whose *prior* is under the bar is left to the draws:
the catalog, not a run of bad luck, puts it there. Exploring a cheaper model spends less
than the means' choice, so the money set aside for paid exploration is not touched; what
it spends is quality, bounded by ``share * saving_weight * sum(p * ratio)``, which the
operator sets through ``Exploration.saving_weight`` (:data:`SAVING_WEIGHT` by default; 0
turns it off).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tta_dev_integrations.llm.complexity import Complexity

__all__ = [
    "NO_EXPLORATION",
    "PRIOR_JUDGED",
    "RELIABILITY_PRIOR",
    "RELIABILITY_PRIOR_CALLS",
    "SAVING_WEIGHT",
    "UNJUDGED_CALLS_STOP",
    "WINDOW_DAYS",
    "Evidence",
    "EvidenceSource",
    "Exploration",
    "MemoryEvidence",
    "posterior_quality",
    "reliability",
]

PRIOR_JUDGED = 15.0
"""How many judged answers the catalog's quality score is worth in the posterior."""

RELIABILITY_PRIOR = 0.97
"""Assumed share of calls that return without an error before any call is seen."""

RELIABILITY_PRIOR_CALLS = 20.0
"""How many calls :data:`RELIABILITY_PRIOR` is worth."""

WINDOW_DAYS = 30
"""Evidence older than this is not read from the ledger: models and prompts change."""

UNJUDGED_CALLS_STOP = 50.0
"""Calls of a tier without a single judged answer after which exploration stops."""

SAVING_WEIGHT = 8.0
"""Default scale of the exploration weighted by the money at stake (see the module).

Chosen on ``benchmarks/bench_routing_sim.py`` seeds 0-99 among 1, 2, 4 and 8."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the router has observed of one model on one tier (over the window).

    ``judged`` answers carried a score in [0, 1] whose sum is ``judged_score_sum``;
    ``calls`` were made, ``errors`` of them failed or timed out. Counts may be
    fractional when the store decays old observations.
    """

    model: str
    tier: Complexity
    judged: float = 0.0
    judged_score_sum: float = 0.0
    calls: float = 0.0
    errors: float = 0.0
    mean_latency_s: float | None = None

    def __post_init__(self) -> None:
        if not (0.0 <= self.judged_score_sum <= self.judged + 1e-9):
            raise ValueError(
                f"evidence for {self.model}/{self.tier}: judged_score_sum "
                f"{self.judged_score_sum} must lie in [0, judged={self.judged}] "
                "(each judged answer scores between 0 and 1)"
            )
        if not (0.0 <= self.errors <= self.calls + 1e-9):
            raise ValueError(
                f"evidence for {self.model}/{self.tier}: errors {self.errors} must lie in "
                f"[0, calls={self.calls}]"
            )


@dataclass(frozen=True, slots=True)
class Exploration:
    """The operator's exploration budget.

    ``share``: the fraction of decisions that sample from the posteriors instead of
    using their means (0 turns exploration off). ``paid_usd_left``: the money left for
    exploring paid models (``None``: no limit beyond the profile's own rules; 0: explore
    among free models only, or among paid models the profile would use anyway).
    ``saving_weight``: how strongly a cheaper model trapped under the bar is explored,
    in proportion to the money at stake (the module's "Exploration weighted by the money
    at stake"; 0 turns it off, and ``share == 0`` turns all exploration off).
    """

    share: float = 0.1
    paid_usd_left: float | None = 0.0
    saving_weight: float = SAVING_WEIGHT

    def __post_init__(self) -> None:
        if not (0.0 <= self.share <= 1.0) or math.isnan(self.share):
            raise ValueError(f"exploration share must be in [0, 1], got {self.share!r}")
        if self.paid_usd_left is not None and not self.paid_usd_left >= 0.0:
            raise ValueError(
                f"exploration paid_usd_left must be >= 0 or None, got {self.paid_usd_left!r}"
            )
        if not self.saving_weight >= 0.0 or math.isinf(self.saving_weight):
            raise ValueError(
                f"exploration saving_weight must be a finite number >= 0, "
                f"got {self.saving_weight!r}"
            )


class EvidenceSource(Protocol):
    """Where the router reads its evidence: the spend ledger, or :class:`MemoryEvidence`.

    A ledger implements it from its entries of the last :data:`WINDOW_DAYS` days, each
    entry carrying the tier it was routed on, whether it failed or timed out, its
    latency, and the judged score ``record_feedback`` gave it (none when unjudged).
    """

    async def routing_evidence(
        self, models: Sequence[str], tier: Complexity
    ) -> Mapping[str, Evidence]:
        """The evidence of each of ``models`` on ``tier`` (absent: never called there)."""
        ...


NO_EXPLORATION = Exploration(share=0.0)
"""Never explore: every decision uses the posterior means (the dry run's view)."""


def posterior_quality(prior: float, evidence: Evidence | None) -> tuple[float, float]:
    """The posterior mean quality and its standard deviation, given the catalog's prior."""
    if evidence is None or evidence.judged <= 0.0:
        a = PRIOR_JUDGED * prior
        n = PRIOR_JUDGED
    else:
        a = PRIOR_JUDGED * prior + evidence.judged_score_sum
        n = PRIOR_JUDGED + evidence.judged
    mean = a / n
    return mean, math.sqrt(mean * (1.0 - mean) / (n + 1.0))


def reliability(evidence: Evidence | None) -> float:
    """The posterior mean share of calls that return without an error or a timeout."""
    if evidence is None or evidence.calls <= 0.0:
        return RELIABILITY_PRIOR
    served = evidence.calls - evidence.errors
    return (RELIABILITY_PRIOR * RELIABILITY_PRIOR_CALLS + served) / (
        RELIABILITY_PRIOR_CALLS + evidence.calls
    )


class MemoryEvidence:
    """Evidence kept in memory with exponential decay.

    A test double, and the store the routing benchmarks learn from.
    Each new judged answer of a ``(model, tier)`` first multiplies that pair's judged
    counts by ``decay``, and each new call its call and error counts (0.995: a judged
    answer weighs half after about 140 newer judged answers of the same pair; 1.0 keeps
    everything). Judged answers age with judged answers, not with calls: were every call
    to age them, a low feedback rate would cap how many judged answers ever count (about
    33 at 20% feedback), and so how far a wrong prior is ever corrected.
    Latency is a plain running mean.
    """

    def __init__(self, decay: float = 0.995) -> None:
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay!r}")
        self.decay = decay
        # (model, tier) -> [judged, judged_score_sum, calls, errors, latency_sum, timed]
        self._counts: dict[tuple[str, Complexity], list[float]] = {}

    def _pair(self, model: str, tier: Complexity, first: int) -> list[float]:
        """The pair's counts, those from ``first`` (0: judged, 2: calls) decayed once."""
        counts = self._counts.get((model, tier))
        if counts is None:
            counts = self._counts[model, tier] = [0.0] * 6
        elif self.decay < 1.0:
            counts[first] *= self.decay
            counts[first + 1] *= self.decay
        return counts

    def record_call(
        self, model: str, tier: Complexity, *, ok: bool, latency_s: float | None = None
    ) -> None:
        """One call: served, or failed with an error or a timeout."""
        counts = self._pair(model, tier, 2)
        counts[2] += 1.0
        if not ok:
            counts[3] += 1.0
        if latency_s is not None:
            counts[4] += latency_s
            counts[5] += 1.0

    def record_judgement(self, model: str, tier: Complexity, score: float) -> None:
        """One judged answer, ``score`` in [0, 1] (1: good)."""
        if not 0.0 <= score <= 1.0:
            raise ValueError(f"a judged answer scores between 0 and 1, got {score!r}")
        counts = self._pair(model, tier, 0)
        counts[0] += 1.0
        counts[1] += score

    async def routing_evidence(
        self, models: Sequence[str], tier: Complexity
    ) -> Mapping[str, Evidence]:
        """:class:`EvidenceSource`: the evidence of ``models`` on ``tier``."""
        found = self.evidence(tier)
        return {m: found[m] for m in models if m in found}

    def evidence(self, tier: Complexity) -> dict[str, Evidence]:
        """Every model's evidence on ``tier``, as :func:`~.routing.decide` reads it."""
        found = {}
        for (model, pair_tier), (
            judged,
            score,
            calls,
            errors,
            latency,
            timed,
        ) in self._counts.items():
            if pair_tier == tier:
                found[model] = Evidence(
                    model,
                    tier,
                    judged=judged,
                    judged_score_sum=min(score, judged),
                    calls=max(calls, errors),
                    errors=errors,
                    mean_latency_s=latency / timed if timed else None,
                )
        return found
