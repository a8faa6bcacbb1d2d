"""A per-prompt routing signal learnt from judged outcomes, and a threshold on it.

:class:`PromptScorer` predicts how much a strong model gains over a weak one on a prompt
(the difference of their judged scores, in [-1, 1]) from the prompt's text: its words and
word pairs, and its length, digits, lines and code marks in coarse buckets, hashed.

- ``loss="logistic"`` (the default of :class:`ScorerSettings`; it ranked better than the
  squared loss in cross-validation on MMLU and GSM8K): two logistic models, one for "the
  strong model does better" and one for "it does worse" (soft labels: the positive and
  negative parts of the gain); the score is the difference of their probabilities, the
  expected gain. ``loss="squared"`` (the default of :meth:`PromptScorer.fit`, kept for
  the scale its callers calibrated on) regresses the gain itself.
- ``neighbours`` (a share in [0, 1]) blends in :class:`PromptNeighbours`: the mean gain of
  the most similar judged prompts (cosine over TF-IDF vectors of words and word pairs),
  which helps where the judged prompts are few.

It trains in pure Python (seconds on 7,000 prompts) on outcomes such as the ledger's
judged answers, and scores a prompt in tens to a few hundred microseconds.
:func:`cross_validate` picks among candidate :class:`ScorerSettings` by k-fold
cross-validation on the judged prompts themselves (by default on the share of the gain
recovered when the highest-scored prompts go to the strong model first).

Routing on it: send the prompts scoring at or above a threshold to the strong (paid)
model. :func:`threshold_for_share` calibrates that threshold to a target share of paid
calls on prompts already seen, instead of three fixed tiers; :func:`tier_for_score`
turns a score into the router's tier (``high`` at or above the threshold, else ``low``).
:func:`gain_per_usd` turns a score into the gain per extra dollar the strong model costs
on the prompt, to rank by value for money where prompts' prices differ.

Measured on held-out halves of RouteLLM's and AlpacaEval's data in
``benchmarks/bench_routing_replay.py``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from tta_dev_integrations.llm.complexity import Complexity

__all__ = [
    "BUCKETS",
    "CrossValidation",
    "Loss",
    "PromptNeighbours",
    "PromptScorer",
    "ScorerSettings",
    "cross_validate",
    "gain_per_usd",
    "gain_recovered",
    "prompt_features",
    "threshold_for_share",
    "tier_for_score",
]

BUCKETS = 1 << 18
"""Hashed feature space: collisions are rare for the few thousand words a domain uses."""

Loss = Literal["logistic", "squared"]

_K = 30
"""Neighbours averaged by default."""

_TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")
_CODE = re.compile(r"```|^\s*(def |class |function |import |#include)|[{};]\s*$", re.M)


def _bucket(value: float) -> int:
    """A coarse logarithmic bucket: 0, 1, 2-3, 4-7, ..."""
    return 0 if value <= 0 else int(math.log2(value)) + 1


def _index(name: str, buckets: int) -> int:
    # crc32, not the per-process salted hash(): the same name, the same index, always.
    return zlib.crc32(name.encode()) % buckets


def _term_counts(tokens: Sequence[str], buckets: int) -> dict[int, float]:
    """Hashed counts of the words and word pairs."""
    counts: dict[int, float] = {}
    names = [f"w:{t}" for t in tokens]
    names += [f"b:{a} {b}" for a, b in itertools.pairwise(tokens)]
    for name in names:
        index = _index(name, buckets)
        counts[index] = counts.get(index, 0.0) + 1.0
    return counts


def _normalised(features: dict[int, float]) -> dict[int, float]:
    norm = math.sqrt(sum(v * v for v in features.values()))
    return {i: v / norm for i, v in features.items()} if norm else features


def prompt_features(prompt: str, buckets: int = BUCKETS) -> dict[int, float]:
    """The prompt's hashed features, L2-normalised (feature index -> value)."""
    tokens = _TOKEN.findall(prompt.lower())
    return _with_shape(prompt, tokens, _term_counts(tokens, buckets), buckets)


def _with_shape(
    prompt: str, tokens: Sequence[str], counts: Mapping[int, float], buckets: int
) -> dict[int, float]:
    """The term counts with the shape features added, L2-normalised."""
    features = dict(counts)
    digits = sum(c.isdigit() for c in prompt)
    shape = [
        f"len:{_bucket(len(prompt))}",
        f"words:{_bucket(len(tokens))}",
        f"digits:{_bucket(digits)}",
        f"lines:{_bucket(prompt.count(chr(10)))}",
        f"code:{min(3, len(_CODE.findall(prompt)))}",
        "bias",
    ]
    for name in shape:
        index = _index(name, buckets)
        features[index] = features.get(index, 0.0) + 1.0
    return _normalised(features)


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def _dot(weights: Mapping[int, float], row: Mapping[int, float]) -> float:
    return sum(weights.get(j, 0.0) * v for j, v in row.items())


def _sgd(
    rows: Sequence[Mapping[int, float]],
    targets: Sequence[float],
    *,
    logistic: bool,
    epochs: int,
    l2: float,
    rate: float,
    seed: int,
) -> dict[int, float]:
    """Stochastic gradient descent with AdaGrad steps and an L2 penalty.

    Squared loss on ``targets`` (``logistic=False``), or the logistic loss with the
    targets as (soft) labels in [0, 1].
    """
    weights: dict[int, float] = {}
    squares: dict[int, float] = {}
    order = list(range(len(rows)))
    shuffle = random.Random(seed).shuffle
    for _ in range(epochs):
        shuffle(order)
        for i in order:
            row = rows[i]
            z = _dot(weights, row)
            error = (_sigmoid(z) if logistic else z) - targets[i]
            for j, v in row.items():
                w = weights.get(j, 0.0)
                grad = error * v + l2 * w
                g2 = squares.get(j, 1e-8) + grad * grad
                squares[j] = g2
                weights[j] = w - rate * grad / math.sqrt(g2)
    return {j: w for j, w in weights.items() if w != 0.0}


def _check(prompts: Sequence[object], gains: Sequence[float], what: str) -> None:
    if len(prompts) != len(gains):
        raise ValueError(
            f"{what} needs one gain per prompt (or score): {len(prompts)} prompts or scores, "
            f"{len(gains)} gains"
        )


@dataclass(frozen=True, slots=True)
class PromptNeighbours:
    """k nearest judged prompts: the score is the similarity-weighted mean of their gains.

    Prompts are TF-IDF vectors (sublinear counts of hashed words and word pairs; terms in
    more than ``max_df`` of the judged prompts dropped) compared by cosine. The mean is
    shrunk towards the mean gain of all judged prompts by ``prior`` (a similarity mass),
    so a prompt sharing nothing with the history scores that mean, and an empty history
    scores 0 (no evidence of a gain). Only the ``query_terms`` heaviest terms of the
    prompt are looked up, each in the ``max_postings`` judged prompts where it weighs
    most, which bounds the cost of scoring on a long history (on MMLU's 7,000 prompts,
    16 and 200 ranked as well as every term in every prompt, in cross-validation).
    """

    postings: Mapping[int, tuple[tuple[int, float], ...]]
    idf: Mapping[int, float]
    gains: tuple[float, ...]
    mean: float = 0.0
    """The mean gain of the judged prompts (0 without any)."""
    k: int = _K
    prior: float = 1.0
    query_terms: int = 16
    buckets: int = BUCKETS

    @classmethod
    def fit(
        cls,
        prompts: Sequence[str],
        gains: Sequence[float],
        *,
        k: int = _K,
        max_df: float = 0.1,
        prior: float = 1.0,
        query_terms: int = 16,
        max_postings: int = 200,
        buckets: int = BUCKETS,
    ) -> PromptNeighbours:
        """Index the judged prompts; an empty history is allowed (it scores 0)."""
        _check(prompts, gains, "PromptNeighbours.fit")
        if k < 1 or query_terms < 1:
            raise ValueError(f"k and query_terms must be at least 1, got {k} and {query_terms}")
        counts = [_term_counts(_TOKEN.findall(p.lower()), buckets) for p in prompts]
        df: dict[int, int] = {}
        for row in counts:
            for j in row:
                df[j] = df.get(j, 0) + 1
        n = len(prompts)
        cut = max(2, int(max_df * n))
        idf = {j: math.log((1 + n) / (1 + d)) + 1.0 for j, d in df.items() if d <= cut}
        lists: dict[int, list[tuple[int, float]]] = {}
        for i, row in enumerate(counts):
            for j, v in cls._vector(row, idf).items():
                lists.setdefault(j, []).append((i, v))
        postings = {
            j: tuple(heapq.nlargest(max_postings, p, key=lambda t: t[1])) for j, p in lists.items()
        }
        mean = math.fsum(gains) / n if n else 0.0
        return cls(postings, idf, tuple(gains), mean, k, prior, query_terms, buckets)

    @staticmethod
    def _vector(counts: Mapping[int, float], idf: Mapping[int, float]) -> dict[int, float]:
        return _normalised({j: (1.0 + math.log(v)) * idf[j] for j, v in counts.items() if j in idf})

    def score(self, prompt: str) -> float:
        """The similarity-weighted mean gain of the ``k`` most similar judged prompts."""
        return self._score(_term_counts(_TOKEN.findall(prompt.lower()), self.buckets))

    def _score(self, counts: Mapping[int, float]) -> float:
        if not self.gains:
            return 0.0  # no history: no evidence of a gain
        query = self._vector(counts, self.idf)
        terms = heapq.nlargest(self.query_terms, query.items(), key=lambda t: t[1])
        similar: dict[int, float] = {}
        for j, v in terms:
            for i, u in self.postings[j]:
                similar[i] = similar.get(i, 0.0) + v * u
        top = heapq.nlargest(self.k, similar.items(), key=lambda t: t[1])
        mass = sum(s for _, s in top)
        weighted = sum(s * self.gains[i] for i, s in top)
        return (weighted + self.prior * self.mean) / (mass + self.prior)


@dataclass(frozen=True, slots=True)
class PromptScorer:
    """``score(prompt)`` predicts the strong model's gain over the weak one.

    ``weights`` are the linear model's over :func:`prompt_features`: with
    ``loss="squared"`` they predict the gain; with ``loss="logistic"`` the logit of "the
    strong model does better", and ``against`` the logit of "it does worse".
    ``neighbours``, if given, is blended in with the share ``neighbours_share``.
    """

    weights: Mapping[int, float]
    buckets: int = BUCKETS
    loss: Loss = "squared"
    against: Mapping[int, float] | None = None
    neighbours: PromptNeighbours | None = None
    neighbours_share: float = 0.0

    @classmethod
    def fit(
        cls,
        prompts: Sequence[str],
        gains: Sequence[float],
        *,
        loss: Loss = "squared",
        epochs: int = 3,
        l2: float = 1e-5,
        rate: float = 0.05,
        neighbours: float = 0.0,
        k: int = _K,
        seed: int = 0,
        buckets: int = BUCKETS,
    ) -> PromptScorer:
        """Fit on judged prompts; deterministic for a given ``seed``.

        ``gains[i]`` is the strong model's judged score minus the weak one's on
        ``prompts[i]``, each in [0, 1]. ``neighbours`` is the share of the score given to
        :class:`PromptNeighbours` (0: the linear model alone; 1: the neighbours alone).
        """
        _check(prompts, gains, "PromptScorer.fit")
        if not prompts:
            raise ValueError("PromptScorer.fit needs at least one judged prompt")
        if not 0.0 <= neighbours <= 1.0:
            raise ValueError(f"neighbours is a share in [0, 1], got {neighbours!r}")
        if loss not in ("logistic", "squared"):
            raise ValueError(f"loss must be 'logistic' or 'squared', got {loss!r}")
        rows = [prompt_features(p, buckets) for p in prompts]

        def sgd(targets: Sequence[float], logistic: bool) -> dict[int, float]:
            return _sgd(
                rows, targets, logistic=logistic, epochs=epochs, l2=l2, rate=rate, seed=seed
            )

        against: dict[int, float] | None = None
        if loss == "squared":
            weights = sgd(gains, logistic=False)
        else:
            weights = sgd([max(g, 0.0) for g in gains], logistic=True)
            against = sgd([max(-g, 0.0) for g in gains], logistic=True)
        knn = PromptNeighbours.fit(prompts, gains, k=k, buckets=buckets) if neighbours else None
        return cls(weights, buckets, loss, against, knn, neighbours)

    def linear_score(self, prompt: str) -> float:
        """The linear model's predicted gain (without the neighbours)."""
        return self._linear(prompt_features(prompt, self.buckets))

    def _linear(self, row: Mapping[int, float]) -> float:
        if self.loss == "squared":
            return _dot(self.weights, row)
        worse = _sigmoid(_dot(self.against, row)) if self.against is not None else 0.0
        return _sigmoid(_dot(self.weights, row)) - worse

    def score(self, prompt: str) -> float:
        """The predicted gain of the strong model over the weak one on ``prompt``."""
        if self.neighbours is None or self.neighbours_share == 0.0:
            return self.linear_score(prompt)
        share = self.neighbours_share
        tokens = _TOKEN.findall(prompt.lower())
        counts = _term_counts(tokens, self.buckets)  # hashed once for both models
        near = self.neighbours._score(counts)
        if share == 1.0:
            return near
        linear = self._linear(_with_shape(prompt, tokens, counts, self.buckets))
        return (1.0 - share) * linear + share * near


@dataclass(frozen=True, slots=True)
class ScorerSettings:
    """One candidate setting of :meth:`PromptScorer.fit` for :func:`cross_validate`."""

    loss: Loss = "logistic"
    rate: float = 0.05
    epochs: int = 3
    l2: float = 1e-5
    neighbours: float = 0.0
    k: int = _K

    def fit(self, prompts: Sequence[str], gains: Sequence[float]) -> PromptScorer:
        """A scorer fit on these judged prompts with these settings."""
        return PromptScorer.fit(
            prompts,
            gains,
            loss=self.loss,
            rate=self.rate,
            epochs=self.epochs,
            l2=self.l2,
            neighbours=self.neighbours,
            k=self.k,
        )


def gain_recovered(scores: Sequence[float], gains: Sequence[float]) -> float:
    """Share of the total gain recovered, averaged over shares of prompts sent first.

    The prompts go to the strong model in decreasing score; after each one, the gain
    collected so far over the total gain; the mean of those (RouteLLM's APGR, over
    call shares): 0.5 for a random order, 1 for "all the gain in the first prompt".
    With no positive total gain, the total of the positive gains is the scale.
    """
    _check(scores, gains, "gain_recovered")
    if not gains:
        raise ValueError("gain_recovered needs the gains of some prompts")
    total = math.fsum(gains)
    if total <= 0.0:
        total = math.fsum(g for g in gains if g > 0.0) or 1.0
    ranked = sorted(range(len(gains)), key=lambda i: -scores[i])
    collected = 0.0
    area = 0.0
    for i in ranked:
        collected += gains[i]
        area += collected / total
    return area / len(gains)


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """What :func:`cross_validate` found: the chosen settings, each candidate's figure."""

    chosen: ScorerSettings
    figures: Mapping[ScorerSettings, float]
    out_of_fold: Mapping[ScorerSettings, tuple[float, ...]]
    """Each candidate's score of every prompt by the model fit on the other folds."""


def _linear(settings: ScorerSettings) -> ScorerSettings:
    """The settings of the linear part alone (what a linear fit depends on)."""
    return replace(settings, neighbours=0.0, k=_K)


def cross_validate(
    prompts: Sequence[str],
    gains: Sequence[float],
    candidates: Sequence[ScorerSettings],
    *,
    folds: int = 2,
    criterion: Callable[[Sequence[float]], float] | None = None,
) -> CrossValidation:
    """Pick the candidate settings whose out-of-fold scores do best on the judged prompts.

    Prompt ``i`` is in fold ``i % folds``; each fold is scored by a scorer fit on the
    others. ``criterion(out_of_fold_scores)`` rates a candidate (higher is better;
    default: :func:`gain_recovered` against ``gains``); ties go to the earlier candidate.
    Candidates differing only in ``neighbours`` share their fits.
    """
    _check(prompts, gains, "cross_validate")
    if not candidates:
        raise ValueError("cross_validate needs at least one candidate setting")
    if folds < 2 or len(prompts) < folds:
        raise ValueError(
            f"cross_validate needs at least 2 folds and a prompt per fold: {folds} folds, "
            f"{len(prompts)} prompts"
        )
    rate = criterion or (lambda scores: gain_recovered(scores, gains))
    # One linear fit per distinct linear setting, one index per distinct k, per fold.
    linear_keys = list(dict.fromkeys(_linear(s) for s in candidates if s.neighbours < 1.0))
    knn_keys = list(dict.fromkeys(s.k for s in candidates if s.neighbours > 0.0))
    linear = {key: [0.0] * len(prompts) for key in linear_keys}
    knn = {k: [0.0] * len(prompts) for k in knn_keys}
    for fold in range(folds):
        held = [i for i in range(len(prompts)) if i % folds == fold]
        kept = [i for i in range(len(prompts)) if i % folds != fold]
        kept_prompts = [prompts[i] for i in kept]
        kept_gains = [gains[i] for i in kept]
        for key in linear_keys:
            scorer = key.fit(kept_prompts, kept_gains)
            for i in held:
                linear[key][i] = scorer.linear_score(prompts[i])
        for k in knn_keys:
            neighbours = PromptNeighbours.fit(kept_prompts, kept_gains, k=k)
            for i in held:
                knn[k][i] = neighbours.score(prompts[i])
    none = [0.0] * len(prompts)
    figures: dict[ScorerSettings, float] = {}
    out_of_fold: dict[ScorerSettings, tuple[float, ...]] = {}
    for settings in candidates:
        share = settings.neighbours
        lin = linear.get(_linear(settings), none)
        near = knn.get(settings.k, none)
        scores = tuple((1.0 - share) * a + share * b for a, b in zip(lin, near, strict=True))
        out_of_fold[settings] = scores
        figures[settings] = rate(scores)
    chosen = max(candidates, key=lambda s: figures[s])  # max keeps the first of equals
    return CrossValidation(chosen, figures, out_of_fold)


def gain_per_usd(score: float, extra_usd: float) -> float:
    """The predicted gain per extra dollar the strong model costs on the prompt.

    Ranking by it instead of the gain favours cheap prompts at equal gain (a budget buys
    the most gain that way). A strong model costing no more: any positive gain is worth
    it (``inf``); otherwise the score itself.
    """
    if extra_usd > 0.0:
        return score / extra_usd
    return math.inf if score > 0.0 else score


def threshold_for_share(scores: Sequence[float], paid_share: float) -> float:
    """The score threshold that sends ``paid_share`` of these prompts to the paid model.

    Prompts scoring at or above it go to the paid model; 0 gives ``inf`` (none), 1 gives
    ``-inf`` (all).
    """
    if not 0.0 <= paid_share <= 1.0:
        raise ValueError(f"paid_share must be in [0, 1], got {paid_share!r}")
    if not scores:
        raise ValueError("threshold_for_share needs the scores of some prompts to calibrate on")
    count = round(paid_share * len(scores))
    if count <= 0:
        return math.inf
    if count >= len(scores):
        return -math.inf
    return sorted(scores, reverse=True)[count - 1]


def tier_for_score(score: float, threshold: float) -> Complexity:
    """``high`` (the paid model's tier) at or above the threshold, else ``low``."""
    return "high" if score >= threshold else "low"
