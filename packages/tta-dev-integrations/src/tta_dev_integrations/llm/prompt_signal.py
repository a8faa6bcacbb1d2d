"""A per-prompt routing signal learnt from judged outcomes, and a threshold on it.

:class:`PromptScorer` predicts how much a strong model gains over a weak one on a prompt
(the difference of their judged scores, in [-1, 1]) with a linear model over hashed
features of the prompt's text: its words and word pairs, and its length, digits, lines
and code marks in coarse buckets. It trains in pure Python (a few seconds on 7,000
prompts) on outcomes such as the ledger's judged answers, and scores a prompt in tens of
microseconds.

Routing on it: send the prompts scoring at or above a threshold to the strong (paid)
model. :func:`threshold_for_share` calibrates that threshold to a target share of paid
calls on prompts already seen, instead of three fixed tiers; :func:`tier_for_score`
turns a score into the router's tier (``high`` at or above the threshold, else ``low``).

Measured on held-out halves of RouteLLM's and AlpacaEval's data in
``benchmarks/bench_routing_replay.py``.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tta_dev_integrations.llm.complexity import Complexity

__all__ = [
    "BUCKETS",
    "PromptScorer",
    "prompt_features",
    "threshold_for_share",
    "tier_for_score",
]

BUCKETS = 1 << 18
"""Hashed feature space: collisions are rare for the few thousand words a domain uses."""

_TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")
_CODE = re.compile(r"```|^\s*(def |class |function |import |#include)|[{};]\s*$", re.M)


def _bucket(value: float) -> int:
    """A coarse logarithmic bucket: 0, 1, 2-3, 4-7, ..."""
    return 0 if value <= 0 else int(math.log2(value)) + 1


def prompt_features(prompt: str, buckets: int = BUCKETS) -> dict[int, float]:
    """The prompt's hashed features, L2-normalised (feature index -> value)."""
    text = prompt.lower()
    tokens = _TOKEN.findall(text)
    names = [f"w:{t}" for t in tokens]
    names += [f"b:{a} {b}" for a, b in itertools.pairwise(tokens)]
    digits = sum(c.isdigit() for c in prompt)
    names += [
        f"len:{_bucket(len(prompt))}",
        f"words:{_bucket(len(tokens))}",
        f"digits:{_bucket(digits)}",
        f"lines:{_bucket(prompt.count(chr(10)))}",
        f"code:{min(3, len(_CODE.findall(prompt)))}",
        "bias",
    ]
    features: dict[int, float] = {}
    for name in names:
        index = zlib.crc32(name.encode()) % buckets
        features[index] = features.get(index, 0.0) + 1.0
    norm = math.sqrt(sum(v * v for v in features.values()))
    return {i: v / norm for i, v in features.items()}


@dataclass(frozen=True, slots=True)
class PromptScorer:
    """A linear model over :func:`prompt_features`: ``score(prompt)`` predicts the gain."""

    weights: Mapping[int, float]
    buckets: int = BUCKETS

    @classmethod
    def fit(
        cls,
        prompts: Sequence[str],
        gains: Sequence[float],
        *,
        epochs: int = 3,
        l2: float = 1e-5,
        rate: float = 0.05,
        seed: int = 0,
        buckets: int = BUCKETS,
    ) -> PromptScorer:
        """Least squares by stochastic gradient descent (AdaGrad steps, L2 penalty).

        ``gains[i]`` is the strong model's judged score minus the weak one's on
        ``prompts[i]``, each in [0, 1]. Deterministic for a given ``seed``.
        """
        if len(prompts) != len(gains):
            raise ValueError(
                f"PromptScorer.fit needs one gain per prompt: {len(prompts)} prompts, "
                f"{len(gains)} gains"
            )
        if not prompts:
            raise ValueError("PromptScorer.fit needs at least one judged prompt")
        rows = [prompt_features(p, buckets) for p in prompts]
        weights: dict[int, float] = {}
        squares: dict[int, float] = {}
        order = list(range(len(rows)))
        shuffle = random.Random(seed).shuffle
        for _ in range(epochs):
            shuffle(order)
            for i in order:
                row = rows[i]
                error = sum(weights.get(j, 0.0) * v for j, v in row.items()) - gains[i]
                for j, v in row.items():
                    w = weights.get(j, 0.0)
                    grad = error * v + l2 * w
                    g2 = squares.get(j, 1e-8) + grad * grad
                    squares[j] = g2
                    weights[j] = w - rate * grad / math.sqrt(g2)
        return cls({j: w for j, w in weights.items() if w != 0.0}, buckets)

    def score(self, prompt: str) -> float:
        """The predicted gain of the strong model over the weak one on ``prompt``."""
        weights = self.weights
        return sum(
            weights.get(j, 0.0) * v for j, v in prompt_features(prompt, self.buckets).items()
        )


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
