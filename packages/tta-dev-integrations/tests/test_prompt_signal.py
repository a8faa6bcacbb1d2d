"""The per-prompt scorer and the paid-share threshold: they learn, calibrate and refuse."""

from __future__ import annotations

import math
import random
from statistics import fmean

import pytest

from tta_dev_integrations.llm.prompt_signal import (
    Loss,
    PromptNeighbours,
    PromptScorer,
    ScorerSettings,
    cross_validate,
    gain_per_usd,
    gain_recovered,
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


def separates(scorer: PromptScorer | PromptNeighbours) -> bool:
    """Every unseen hard prompt scores above every unseen easy one."""
    test, truth = prompts(200, seed=2)
    scores = [scorer.score(t) for t in test]
    hard = [s for s, g in zip(scores, truth, strict=True) if g == 1.0]
    easy = [s for s, g in zip(scores, truth, strict=True) if g == 0.0]
    return min(hard) > max(easy)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_either_loss_ranks_unseen_prompts_by_the_word_the_gain_depends_on(loss: Loss) -> None:
    train, gains = prompts(400, seed=1)
    scorer = PromptScorer.fit(train, gains, loss=loss)
    assert separates(scorer)


def test_the_logistic_score_is_an_expected_gain_in_minus_one_to_one() -> None:
    train, gains = prompts(400, seed=1)
    # the strong model also loses on a third of the easy prompts: those score below 0
    gains = [-1.0 if g == 0.0 and i % 3 == 0 else g for i, g in enumerate(gains)]
    scorer = PromptScorer.fit(train, gains, loss="logistic", epochs=10)
    test, truth = prompts(200, seed=2)
    scores = [scorer.score(t) for t in test]
    assert all(-1.0 <= s <= 1.0 for s in scores)
    hard = fmean(s for s, g in zip(scores, truth, strict=True) if g == 1.0)
    easy = fmean(s for s, g in zip(scores, truth, strict=True) if g == 0.0)
    assert hard > 0.25  # (true gains: 1 on hard prompts, -1/3 on average on easy ones)
    assert easy < 0.0 < hard


def test_the_neighbours_rank_unseen_prompts_by_their_judged_neighbours() -> None:
    train, gains = prompts(400, seed=1)
    neighbours = PromptNeighbours.fit(train, gains, k=10)
    test, truth = prompts(200, seed=2)
    best = gain_recovered(truth, truth)  # 0.845: the hard prompts are 30%
    assert gain_recovered([neighbours.score(t) for t in test], truth) > best - 0.02


def test_neighbours_without_history_or_shared_words_fall_back() -> None:
    empty = PromptNeighbours.fit([], [])
    assert empty.score("prove the theorem") == 0.0  # no evidence: no gain predicted
    history = PromptNeighbours.fit(["prove the lemma", "say hello"], [1.0, 0.0])
    assert history.score("zebra quartz") == pytest.approx(0.5)  # nothing shared: the mean
    assert history.score("prove it") > 0.5 > history.score("hello there")


def test_the_neighbours_share_blends_them_into_the_score() -> None:
    train, gains = prompts(200, seed=1)
    linear = PromptScorer.fit(train, gains, loss="logistic")
    blended = PromptScorer.fit(train, gains, loss="logistic", neighbours=0.5)
    alone = PromptNeighbours.fit(train, gains)
    text = "please tell me the theorem"
    expected = 0.5 * linear.score(text) + 0.5 * alone.score(text)
    assert blended.score(text) == pytest.approx(expected)
    assert blended.linear_score(text) == pytest.approx(linear.score(text))


def test_cross_validation_picks_the_better_of_two_settings() -> None:
    train, gains = prompts(300, seed=4)
    untrained = ScorerSettings(loss="squared", rate=1e-9, epochs=1)
    trained = ScorerSettings(loss="squared")
    found = cross_validate(train, gains, [untrained, trained])
    assert found.chosen == trained
    assert found.figures[trained] > 0.8 > 0.6 > found.figures[untrained]  # best: 0.85
    assert len(found.out_of_fold[trained]) == len(train)
    # the caller's criterion decides: here, the lower rather than the higher
    worse = cross_validate(train, gains, [untrained, trained], criterion=lambda s: -sum(s))
    assert worse.chosen == untrained


def test_cross_validation_shares_fits_between_neighbour_shares() -> None:
    train, gains = prompts(200, seed=5)
    candidates = [ScorerSettings("squared", neighbours=share) for share in (0.0, 0.5, 1.0)]
    found = cross_validate(train, gains, candidates)
    lin, half, knn = (found.out_of_fold[c] for c in candidates)
    assert half == pytest.approx([0.5 * a + 0.5 * b for a, b in zip(lin, knn, strict=True)])
    assert all(found.figures[c] > 0.75 for c in candidates)


@pytest.mark.parametrize(
    ("candidates", "folds", "count", "message"),
    [([], 2, 10, "at least one candidate"), ([ScorerSettings()], 1, 10, "at least 2 folds"),
     ([ScorerSettings()], 2, 1, "a prompt per fold")],
)  # fmt: skip
def test_cross_validation_refuses_what_it_cannot_compare(
    candidates: list[ScorerSettings], folds: int, count: int, message: str
) -> None:
    train, gains = prompts(count, seed=6)
    with pytest.raises(ValueError, match=message):
        cross_validate(train, gains, candidates, folds=folds)


def test_the_gain_recovered_is_one_for_the_best_order_and_low_for_the_worst() -> None:
    gains = [1.0, 0.0, 0.0, 0.0]
    assert gain_recovered([4, 3, 2, 1], gains) == 1.0
    assert gain_recovered([1, 2, 3, 4], gains) == 0.25
    assert gain_recovered([0, 0, 0, 0], [-1.0, 0.0, 0.0, 0.0]) == -1.0  # scaled by 1


def test_the_gain_per_dollar_prefers_the_cheaper_prompt_at_equal_gain() -> None:
    assert gain_per_usd(0.2, 0.001) > gain_per_usd(0.2, 0.01)
    assert gain_per_usd(0.2, 0.0) == math.inf
    assert gain_per_usd(-0.1, 0.0) == -0.1


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
    [
        (["a", "b"], [1.0], "one gain per prompt"),
        ([], [], "at least one"),
        (["a"], [1.0], "neighbours is a share"),
    ],
)
def test_fitting_refuses_what_it_cannot_learn_from(
    prompts_: list[str], gains: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PromptScorer.fit(prompts_, gains, neighbours=2.0 if "share" in message else 0.0)


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
