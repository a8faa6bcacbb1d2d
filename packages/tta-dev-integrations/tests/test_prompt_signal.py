"""The per-prompt scorer and the paid-share threshold: they learn, calibrate and refuse."""

from __future__ import annotations

import math
import random

import pytest

from tta_dev_integrations.llm.prompt_signal import (
    PromptScorer,
    prompt_features,
    threshold_for_share,
    tier_for_score,
)

HARD = ["prove", "integral", "theorem", "derive", "eigenvalue", "lemma"]
EASY = ["capital", "colour", "greet", "weather", "name", "spell"]


def prompts(n: int, seed: int) -> tuple[list[str], list[float]]:
    """Prompts whose gain is 1 when they use a hard word, 0 otherwise, amid shared noise."""
    rng = random.Random(seed)
    noise = ["please", "the", "a", "of", "what", "is", "tell", "me", "about"]
    texts, gains = [], []
    for _ in range(n):
        hard = rng.random() < 0.3
        words = [*rng.sample(noise, 4), rng.choice(HARD if hard else EASY)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        gains.append(1.0 if hard else 0.0)
    return texts, gains


def test_the_scorer_ranks_unseen_prompts_by_what_it_learnt() -> None:
    train, gains = prompts(400, seed=1)
    scorer = PromptScorer.fit(train, gains)
    test, truth = prompts(200, seed=2)
    scores = [scorer.score(t) for t in test]
    hard = [s for s, g in zip(scores, truth, strict=True) if g == 1.0]
    easy = [s for s, g in zip(scores, truth, strict=True) if g == 0.0]
    assert min(hard) > max(easy)  # every hard prompt above every easy one


def test_fitting_is_deterministic_for_a_seed() -> None:
    train, gains = prompts(100, seed=3)
    first = PromptScorer.fit(train, gains, seed=5)
    second = PromptScorer.fit(train, gains, seed=5)
    assert first.weights == second.weights


def test_features_are_stable_across_processes_and_normalised() -> None:
    features = prompt_features("Prove that 2 + 2 = 4.\n```x```")
    assert math.isclose(sum(v * v for v in features.values()), 1.0)
    # crc32, not the per-process salted hash(): the same text, the same indices, always.
    assert features == prompt_features("Prove that 2 + 2 = 4.\n```x```")
    assert min(features) >= 0


@pytest.mark.parametrize(
    ("prompts_", "gains", "message"),
    [(["a", "b"], [1.0], "one gain per prompt"), ([], [], "at least one")],
)
def test_fitting_refuses_what_it_cannot_learn_from(
    prompts_: list[str], gains: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PromptScorer.fit(prompts_, gains)


def test_the_threshold_sends_the_asked_share_to_the_paid_model() -> None:
    scores = [i / 100 for i in range(100)]
    for share in (0.1, 0.25, 0.5, 0.9):
        threshold = threshold_for_share(scores, share)
        paid = sum(tier_for_score(s, threshold) == "high" for s in scores)
        assert paid == round(share * 100)
    assert threshold_for_share(scores, 0.0) == math.inf
    assert threshold_for_share(scores, 1.0) == -math.inf


@pytest.mark.parametrize(("scores", "share"), [([0.1], 1.5), ([0.1], -0.1), ([], 0.5)])
def test_an_impossible_calibration_is_refused(scores: list[float], share: float) -> None:
    with pytest.raises(ValueError, match=r"share|scores"):
        threshold_for_share(scores, share)
