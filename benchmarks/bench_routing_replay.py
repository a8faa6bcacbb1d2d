"""Routing replayed on real outcomes: quality and cost against random, the extremes, the oracle.

Data: ``../shared/data/routing_outcomes.json.gz`` (RouteLLM's MMLU, GSM8K and MT-Bench
sets, GPT-4 against Mixtral; AlpacaEval 1.0, 7 models). Each dataset is split in two
halves by a hash of the item id: everything learnt (the per-prompt scorer, the
threshold, the router's evidence) comes from the first half; every reported figure is
measured on the second.

The router: :class:`~tta_dev_integrations.llm.prompt_signal.PromptScorer` predicts the
strong model's gain over the cheapest on each prompt. Its settings (squared or logistic
loss, learning rate, the share of the nearest judged prompts' mean gain blended in) and
the ranking (by the predicted gain, or by the gain per extra dollar the strong model is
expected to cost on the prompt) are chosen by 2-fold cross-validation inside the first
half (:func:`~tta_dev_integrations.llm.prompt_signal.cross_validate`, on the out-of-fold
scores' mean quality over a random router at the same cost; the neighbours, which double
the scoring cost, only if they add a tenth of a point); a threshold calibrated on
the first half's out-of-fold values to a share of paid calls (:func:`threshold_for_share`)
turns the value into a tier (``high`` at or above it, else ``low``); the real
:func:`~tta_dev_integrations.llm.routing.decide` (``careful``, justified) picks the model
for the tier from catalog priors built by the catalog's earlier MMLU recipe (MMLU / 100;
the high tier 0.15 lower for models below the frontier: the shipped catalog now scores
the high tier by GPQA Diamond, which not all of these 2023 models publish), costs from
the project's pricing (genai-prices) on the recorded token counts. "Before learning": priors only.
"After learning": the router first serves the first half (exploring on 10% of
decisions) with every answer judged, and routes the second half on that evidence.

Baselines on the second half: always the strongest model, always the cheapest, a random
router mixing those two at the same cost (its expected quality), and the oracle (per
prompt, the cheapest model with the best score). Quality is in % of the strongest
model's; cost in % of always-strongest's. The cost saving at 95% of GPT-4's quality is
read off the sweep of paid shares (linear between sweep points), beside RouteLLM's
published figures (arXiv 2406.18665; theirs count GPT-4 calls, ours dollars).

The same routing also runs through the real ``UniversalLLMPrimitive`` (a replay provider
answering with the recorded usage, a throwaway SQLite ledger, the justification on every
request) on up to 300 prompts of each test half at a paid share of 50%: it must choose
what ``decide`` alone chose, and its responses must cost what the recorded usage costs.

Run: .venv/bin/python benchmarks/bench_routing_replay.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import random
import sys
import tempfile
import time
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from statistics import fmean
from typing import Any

from machine import describe_machine
from tta_dev_integrations.llm import LLMError, LLMRequest, Provider, UniversalLLMPrimitive
from tta_dev_integrations.llm.budget.journal import PendingJournal
from tta_dev_integrations.llm.budget.profiles import BudgetProfile
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.catalog import Catalog, ModelInfo, PriceRef
from tta_dev_integrations.llm.complexity import Complexity, estimate_complexity
from tta_dev_integrations.llm.policy import Exploration, MemoryEvidence
from tta_dev_integrations.llm.pricing import cost_of
from tta_dev_integrations.llm.prompt_signal import (
    ScorerSettings,
    cross_validate,
    gain_per_usd,
    threshold_for_share,
    tier_for_score,
)
from tta_dev_integrations.llm.providers.base import Reply, StreamPiece
from tta_dev_integrations.llm.routing import RoutingInputs, decide
from tta_dev_integrations.llm.types import Usage
from tta_dev_primitives import WorkflowContext

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "routing_outcomes.json.gz"
STRONG = "gpt-4-turbo"
NEIGHBOURS_MARGIN = 0.001  # a tenth of a point of quality over random, in cross-validation
ROUTELLM_SAVING = {"mt_bench": 0.85, "mmlu": 0.45, "gsm8k": 0.35}

# MMLU (5-shot) from each model's paper, card or launch post; frontier: no high-tier cut.
MODELS: dict[str, tuple[float, bool, PriceRef]] = {
    "gpt-4-turbo": (86.4, True, PriceRef("openai", "gpt-4-1106-preview")),
    "gpt-4-0613": (86.4, True, PriceRef("openai", "gpt-4-0613")),
    "claude-2": (78.5, False, PriceRef("anthropic", "claude-2")),
    "gpt-3.5-turbo": (70.0, False, PriceRef("openai", "gpt-3.5-turbo")),
    "llama-2-70b": (68.9, False, PriceRef("together", "meta-llama/Llama-2-70b-chat-hf")),
    # zephyr-7b-beta has no price of its own in genai-prices: its base model's.
    "zephyr-7b": (61.4, False, PriceRef("together", "mistralai/Mistral-7B-Instruct-v0.1")),
    "llama-2-7b": (45.3, False, PriceRef("together", "meta-llama/Llama-2-7b-chat-hf")),
    "mixtral": (70.6, False, PriceRef("openrouter", "mistralai/mixtral-8x7b-instruct")),
}


def catalog_entry(alias: str) -> ModelInfo:
    """A paid catalog entry with the catalog's earlier MMLU recipe for its priors."""
    mmlu, frontier, price = MODELS[alias]
    base = mmlu / 100
    return ModelInfo(
        alias=alias,
        provider="replay",
        model_id=alias,
        free=False,
        context_window=200_000,
        capabilities=frozenset(),
        quality={"low": base, "medium": base, "high": base if frontier else base - 0.15},
        quality_source="mmlu-model-cards",
        price=price,
    )


@dataclass
class Item:
    """One prompt: its text, token counts and each model's score in [0, 1]."""

    id: str
    text: str
    in_tokens: int
    out_tokens: dict[str, int]
    scores: dict[str, float]
    cost: dict[str, float] = field(default_factory=dict)
    worst: dict[str, float] = field(default_factory=dict)  # what the router expects to pay
    gain: float = 0.0  # the scorer's predicted gain
    score: float = 0.0  # what the threshold ranks: the gain, or the gain per extra dollar


def load(quick: bool) -> dict[str, list[Item]]:
    raw = json.loads(gzip.decompress(DATA.read_bytes()))
    sets = {}
    for name, data in raw["datasets"].items():
        top = float(data["max_score"])
        items = [
            Item(
                id=it["id"],
                text="\n".join(it["turns"]),
                in_tokens=int(it["in_tokens"]),
                out_tokens={m: int(t) for m, t in it["out_tokens"].items()},
                scores={m: float(s) / top for m, s in it["scores"].items()},
            )
            for it in data["items"]
        ]
        if quick and len(items) > 1200:
            items = [it for it in items if zlib.crc32(b"quick:" + it.id.encode()) % 10 == 0]
        sets[name] = items
    return sets


def halves(items: list[Item]) -> tuple[list[Item], list[Item]]:
    """The training half and the reported half, by a hash of the id."""
    first = [it for it in items if zlib.crc32(it.id.encode()) % 2 == 0]
    second = [it for it in items if zlib.crc32(it.id.encode()) % 2 == 1]
    return first, second


@dataclass
class Router:
    """decide() over a dataset's models, on the scorer's tier, learning if it has a store."""

    models: list[ModelInfo]
    store: MemoryEvidence | None = None

    def route(self, item: Item, threshold: float, rng: random.Random | None) -> str:
        tier: Complexity = tier_for_score(item.score, threshold)
        decision = decide(
            RoutingInputs(
                models=self.models,
                profile=BudgetProfile.CAREFUL,
                tier=tier,
                worst_case_usd=item.worst,
                available_providers=frozenset({"replay"}),
                justification_valid=True,
                stats=self.store.evidence(tier) if self.store else {},
                exploration=Exploration(share=0.1, paid_usd_left=None),
                rng=rng,
            )
        )
        assert decision.chosen is not None, decision.reason
        if self.store is not None and rng is not None:  # learning: judged and recorded
            self.store.record_call(decision.chosen, tier, ok=True)
            self.store.record_judgement(decision.chosen, tier, item.scores[decision.chosen])
        return decision.chosen


def point(items: list[Item], picks: list[str]) -> tuple[float, float]:
    """(quality, cost) of routing ``items`` to ``picks``, as sums."""
    return (
        sum(it.scores[m] for it, m in zip(items, picks, strict=True)),
        sum(it.cost[m] for it, m in zip(items, picks, strict=True)),
    )


def gains(items: list[Item], cheapest: str) -> list[float]:
    """The strongest model's score minus the cheapest's, per prompt: what the scorer learns."""
    return [it.scores[STRONG] - it.scores[cheapest] for it in items]


def apgr(items: list[Item], scores: list[float], cheapest: str) -> float:
    """Average performance gap recovered when sending the highest-scored prompts first.

    0.5 for a random order, 1 for a perfect one (RouteLLM's APGR, over call shares).
    """
    q_cheap = sum(it.scores[cheapest] for it in items)
    q_strong = sum(it.scores[STRONG] for it in items)
    ranked = sorted(range(len(items)), key=lambda i: -scores[i])
    q, total = q_cheap, 0.0
    for i in ranked:
        q += items[i].scores[STRONG] - items[i].scores[cheapest]
        total += (q - q_cheap) / (q_strong - q_cheap)
    return total / len(items)


def over_random(items: list[Item], values: list[float], cheapest: str) -> float:
    """Mean quality over a random router at the same cost, paid shares 5-95%, two models.

    The prompts with the highest ``values`` go to the strongest model, the rest to the
    cheapest; quality in fractions of always-strongest's. What the cross-validation
    maximises inside the training half.
    """
    n = len(items)
    q_strong = sum(it.scores[STRONG] for it in items)
    q_cheap = sum(it.scores[cheapest] for it in items)
    c_strong = sum(it.cost[STRONG] for it in items)
    c_cheap = sum(it.cost[cheapest] for it in items)
    ranked = sorted(range(n), key=lambda i: -values[i])
    q, c, sent, total = q_cheap, c_cheap, 0, 0.0
    shares = [i / 20 for i in range(1, 20)]
    for share in shares:
        while sent < round(share * n):
            it = items[ranked[sent]]
            q += it.scores[STRONG] - it.scores[cheapest]
            c += it.cost[STRONG] - it.cost[cheapest]
            sent += 1
        paid = max(0.0, min(1.0, (c - c_cheap) / (c_strong - c_cheap)))
        total += (q - (q_cheap + paid * (q_strong - q_cheap))) / q_strong
    return total / len(shares)


def saving_at(curve: list[tuple[float, float]], quality: float, full_cost: float) -> float:
    """1 - cost/full at the cheapest point of the curve (cost, quality) reaching ``quality``."""
    ordered = sorted(curve)
    for (c0, q0), (c1, q1) in itertools.pairwise(ordered):
        if q0 >= quality:
            return 1 - c0 / full_cost
        if q1 >= quality:
            c = c0 + (c1 - c0) * (quality - q0) / (q1 - q0)
            return 1 - c / full_cost
    if ordered and ordered[-1][1] >= quality:
        return 1 - ordered[-1][0] / full_cost
    return 0.0


def evaluate(
    items: list[Item], shares: list[float], primitive_items: int, grid: list[ScorerSettings]
) -> dict[str, Any]:
    """Train on the first half, report on the second (see the module docstring)."""
    models = [catalog_entry(m) for m in items[0].scores]
    for it in items:
        it.cost = {
            m.alias: cost_of(m, Usage(it.in_tokens, it.out_tokens[m.alias])).usd for m in models
        }
    train, test = halves(items)
    cheapest = min(models, key=lambda m: sum(it.cost[m.alias] for it in train)).alias
    mean_out = {m.alias: fmean(it.out_tokens[m.alias] for it in train) for m in models}
    for it in items:
        it.worst = {
            m.alias: cost_of(m, Usage(it.in_tokens, round(mean_out[m.alias]))).usd for m in models
        }
    extra = [it.worst[STRONG] - it.worst[cheapest] for it in train]

    def per_usd(scores: Sequence[float]) -> list[float]:
        return [gain_per_usd(g, e) for g, e in zip(scores, extra, strict=True)]

    # The scorer's settings (loss, learning rate, neighbours' share) and the ranking (by
    # predicted gain, or by gain per extra dollar on the prompt's expected cost) are
    # chosen by 2-fold cross-validation inside the training half: the out-of-fold
    # scores' mean quality over a random router at the same cost, paid shares 5-95%.
    # The chosen out-of-fold scores also calibrate the threshold (a scorer scores the
    # prompts it was fit on higher than new ones).
    def criterion(scores: Sequence[float]) -> float:
        return max(
            over_random(train, list(scores), cheapest),
            over_random(train, per_usd(scores), cheapest),
        )

    found = cross_validate(
        [it.text for it in train], gains(train, cheapest), grid, criterion=criterion
    )
    settings = found.chosen
    # The neighbours double the scoring cost on a long history (MMLU: ~160 -> ~370 us of
    # CPU): they are kept only if they add at least NEIGHBOURS_MARGIN to the figure.
    linear = [c for c in grid if c.neighbours == 0.0]
    if settings.neighbours > 0.0 and linear:
        alone = max(linear, key=lambda c: found.figures[c])
        if found.figures[settings] - found.figures[alone] < NEIGHBOURS_MARGIN:
            settings = alone
    out_of_fold = list(found.out_of_fold[settings])
    by_gain = over_random(train, out_of_fold, cheapest)
    by_usd = over_random(train, per_usd(out_of_fold), cheapest)
    ranking = "gain per dollar" if by_usd > by_gain else "gain"
    started = time.perf_counter()
    scorer = settings.fit([it.text for it in train], gains(train, cheapest))
    fit_s = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    for it in test:
        it.gain = scorer.score(it.text)
    score_us = (time.perf_counter() - started) / len(test) * 1e6
    score_cpu_us = (time.process_time() - cpu) / len(test) * 1e6
    for it, g in zip(train, out_of_fold, strict=True):
        it.gain = g
    for it in items:
        it.score = (
            gain_per_usd(it.gain, it.worst[STRONG] - it.worst[cheapest])
            if ranking == "gain per dollar"
            else it.gain
        )
    train_scores = [it.score for it in train]

    n = len(test)
    q_strong, c_strong = point(test, [STRONG] * n)
    q_cheap, c_cheap = point(test, [cheapest] * n)
    oracle = [min(it.scores, key=lambda m: (-it.scores[m], it.cost[m])) for it in test]
    q_oracle, c_oracle = point(test, oracle)

    def random_quality(cost: float) -> float:
        share = (cost - c_cheap) / (c_strong - c_cheap)
        return q_cheap + max(0.0, min(1.0, share)) * (q_strong - q_cheap)

    curves: dict[str, list[dict[str, float]]] = {}
    for variant in ("before learning", "after learning"):
        curve = []
        for share in shares:
            threshold = threshold_for_share(train_scores, share)
            router = Router(models)
            if variant == "after learning":
                router.store = MemoryEvidence(decay=1.0)
                rng = random.Random(7)
                for it in train:
                    router.route(it, threshold, rng)
            picks = [router.route(it, threshold, None) for it in test]
            q, c = point(test, picks)
            curve.append({
                "paid_share": share,
                "strong_calls": sum(p == STRONG for p in picks) / n,
                "quality": q / q_strong,
                "cost": c / c_strong,
                "random_quality": random_quality(c) / q_strong,
            })  # fmt: skip
        curves[variant] = curve
    # The same routing through the real UniversalLLMPrimitive (replay provider, SQLite
    # ledger) at a paid share of 50%, on up to `primitive_items` prompts of the test half.
    threshold = threshold_for_share(train_scores, 0.5)
    sample = test[:primitive_items]
    direct = [Router(models).route(it, threshold, None) for it in sample]
    real = asyncio.run(through_primitive(sample, models, threshold))
    q_real, c_real = point(sample, real["picks"])
    q_direct, c_direct = point(sample, direct)
    q_top, c_top = point(sample, [STRONG] * len(sample))
    result_primitive = {
        "prompts": len(sample),
        "same_choice": sum(a == b for a, b in zip(real["picks"], direct, strict=True))
        / len(sample),
        "quality": q_real / q_top,
        "cost": c_real / c_top,
        "direct_quality": q_direct / q_top,
        "direct_cost": c_direct / c_top,
        "ledger_spent_vs_recorded": real["spent_usd"] / c_real if c_real else 1.0,
    }
    estimator = [estimate_complexity(it.text).score for it in test]

    result: dict[str, Any] = {
        "train": len(train),
        "test": n,
        "cheapest": cheapest,
        "fit_s": fit_s,
        "score_us": score_us,
        "score_cpu_us": score_cpu_us,
        "always_strongest": {"quality": 1.0, "cost": 1.0},
        "always_cheapest": {"quality": q_cheap / q_strong, "cost": c_cheap / c_strong},
        "oracle": {"quality": q_oracle / q_strong, "cost": c_oracle / c_strong},
        "scorer_settings": {
            "loss": settings.loss,
            "rate": settings.rate,
            "epochs": settings.epochs,
            "neighbours": settings.neighbours,
            "ranking": ranking,
        },
        "cross_validation": {
            f"{s.loss}, rate {s.rate:g}, neighbours {s.neighbours:g}": figure
            for s, figure in found.figures.items()
        },
        "cv_over_random": {"gain": by_gain, "gain per dollar": by_usd},
        "apgr_scorer": apgr(test, [it.gain for it in test], cheapest),
        # what each ranking alone gives on the test half (strongest or cheapest only)
        "test_over_random_by": {
            "gain": over_random(test, [it.gain for it in test], cheapest),
            "gain per dollar": over_random(
                test,
                [gain_per_usd(it.gain, it.worst[STRONG] - it.worst[cheapest]) for it in test],
                cheapest,
            ),
        },
        "apgr_keyword_estimator": apgr(test, estimator, cheapest),
        "curves": curves,
        "through_primitive": result_primitive,
    }
    target = 0.95 * q_strong
    result["saving_at_95"] = {}
    result["calls_saved_at_95"] = {}  # RouteLLM's measure: GPT-4 calls, not dollars
    for variant, curve in curves.items():
        points = [(p["cost"] * c_strong, p["quality"] * q_strong) for p in curve]
        result["saving_at_95"][variant] = saving_at(points, target, c_strong)
        calls = [(p["strong_calls"], p["quality"] * q_strong) for p in curve]
        result["calls_saved_at_95"][variant] = saving_at(calls, target, 1.0)
        inner = [p["quality"] - p["random_quality"] for p in curve if 0.0 < p["paid_share"] < 1.0]
        result[f"over_random_{variant}"] = {"mean": fmean(inner), "max": max(inner)}
    random_curve = [(c_cheap, q_cheap), (c_strong, q_strong)]
    result["saving_at_95"]["random"] = saving_at(random_curve, target, c_strong)
    return result


class ReplayProvider(Provider):
    """Answers each prompt with its recorded usage for the model asked: no network."""

    name = "replay"

    def __init__(self, items: list[Item]) -> None:
        self.items = {it.text: it for it in items}

    def is_configured(self) -> bool:
        return True

    async def complete(self, request: LLMRequest, model_id: str) -> Reply:
        item = self.items[request.messages[-1].text]
        usage = Usage(item.in_tokens, item.out_tokens[model_id])
        return Reply(f"{model_id} answers {item.id}", "stop", usage)

    def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        raise LLMError("the replay provider does not stream")


class Offline(Provider):
    """The free model's provider, never configured: the justification's tried model."""

    name = "offline"

    def is_configured(self) -> bool:
        return False

    async def complete(self, request: LLMRequest, model_id: str) -> Reply:
        raise LLMError("offline")

    def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        raise LLMError("offline")


OFFLINE_FREE = ModelInfo(
    alias="offline-free",
    provider="offline",
    model_id="offline-free",
    free=True,
    context_window=8192,
    capabilities=frozenset(),
    quality={"low": 0.5, "medium": 0.5, "high": 0.5},
    quality_source="mmlu-model-cards",
)
JUSTIFIED = {
    "reason": "the replay pays for the stronger model where the scorer says it helps",
    "free_alternatives_tried": ["offline-free"],  # a free model with no provider: never up
    "expected_quality_delta": "+10%",
}


async def through_primitive(
    items: list[Item], models: list[ModelInfo], threshold: float
) -> dict[str, Any]:
    """Route ``items`` through the real UniversalLLMPrimitive; what it chose and cost."""
    catalog = Catalog(
        {m.alias: m for m in [*models, OFFLINE_FREE]},
        {"mmlu-model-cards": "MMLU / 100; high tier 0.15 lower below the frontier"},
    )
    with tempfile.TemporaryDirectory(prefix="tta-replay-") as home:
        ledger = SQLiteLedger(Path(home) / "ledger.db")
        llm = UniversalLLMPrimitive(
            coder="none",
            budget_profile="careful",
            free_models=["offline-free"],
            paid_models=[m.alias for m in models],
            ledger=ledger,
            catalog=catalog,
            providers={"replay": ReplayProvider(items), "offline": Offline()},
            journal=PendingJournal(Path(home) / "pending.jsonl"),
        )
        picks, spent = [], 0.0
        try:
            for it in items:
                tier = tier_for_score(it.score, threshold)
                request = {"prompt": it.text, "complexity": tier, "max_tokens": 4096,
                           "justification": JUSTIFIED}  # fmt: skip
                response = await llm.execute(request, WorkflowContext())
                picks.append(response.model)
                spent += response.cost_usd
        finally:
            await ledger.close()
    return {"picks": picks, "spent_usd": spent}


SHOWN_SHARES = (0.1, 0.25, 0.5, 0.75)


def show(name: str, r: dict[str, Any]) -> None:
    """Print one dataset's figures."""
    cheap, oracle = r["always_cheapest"], r["oracle"]
    print(f"\n{name}: train {r['train']}, test {r['test']}; cheapest {r['cheapest']}")
    settings = r["scorer_settings"]
    cv = r["cv_over_random"]
    print(
        f"  scorer: {settings['loss']} loss, rate {settings['rate']:g}, neighbours' share "
        f"{settings['neighbours']:g}, ranked by {settings['ranking']} (cross-validated in the "
        f"training half: over random {cv['gain']:+.2%} by gain, {cv['gain per dollar']:+.2%} "
        f"per dollar); fit {r['fit_s']:.1f} s, {r['score_us']:.0f} us per prompt "
        f"({r['score_cpu_us']:.0f} us of CPU)"
    )
    by = r["test_over_random_by"]
    print(
        f"  test half, {STRONG} or {r['cheapest']} only: over random {by['gain']:+.2%} "
        f"ranked by gain, {by['gain per dollar']:+.2%} by gain per dollar"
    )
    print(
        f"  APGR: scorer {r['apgr_scorer']:.3f}, keyword estimator "
        f"{r['apgr_keyword_estimator']:.3f} (random 0.5)"
    )
    print(
        f"  always cheapest: quality {cheap['quality']:.1%} at cost {cheap['cost']:.1%}; "
        f"oracle {oracle['quality']:.1%} at {oracle['cost']:.1%}"
    )
    for variant, curve in r["curves"].items():
        over = r[f"over_random_{variant}"]
        print(
            f"  {variant}: over random at the same cost {over['mean']:+.2%} mean, "
            f"{over['max']:+.2%} best; paid share: quality @ cost (random's quality)"
        )
        for p in curve:
            if p["paid_share"] in SHOWN_SHARES:
                print(
                    f"    {p['paid_share']:4.0%}: {p['quality']:6.1%} @ {p['cost']:6.1%} "
                    f"({p['random_quality']:.1%})"
                )
    real = r["through_primitive"]
    print(
        f"  through UniversalLLMPrimitive, paid share 50%, {real['prompts']} prompts: "
        f"{real['same_choice']:.0%} same choice as decide() alone; quality {real['quality']:.1%} "
        f"at cost {real['cost']:.1%} (direct {real['direct_quality']:.1%} at "
        f"{real['direct_cost']:.1%}); its responses' cost / recorded usage's "
        f"{real['ledger_spent_vs_recorded']:.3f}"
    )
    s = r["saving_at_95"]
    routellm = ROUTELLM_SAVING.get(name)
    theirs = f"; RouteLLM {routellm:.0%} (of GPT-4 calls)" if routellm else ""
    calls = r["calls_saved_at_95"]
    print(
        f"  cost saving at 95% of {STRONG}: before learning {s['before learning']:.0%}, "
        f"after {s['after learning']:.0%}, random {s['random']:.0%}{theirs}; "
        f"{STRONG} calls saved: before {calls['before learning']:.0%}, "
        f"after {calls['after learning']:.0%}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a tenth of MMLU, 5 paid shares")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    started = time.perf_counter()
    shares = [0.0, 0.25, 0.5, 0.75, 1.0] if args.quick else [i / 20 for i in range(21)]
    primitive_items = 40 if args.quick else 300
    grid = (
        [ScorerSettings("logistic"), ScorerSettings("logistic", neighbours=0.5)]
        if args.quick
        else [
            ScorerSettings(loss, rate, neighbours=share)
            for loss in ("squared", "logistic")
            for rate in (0.05, 0.1)
            for share in (0.0, 0.25, 0.5, 1.0)
        ]
    )
    results = {
        name: evaluate(items, shares, primitive_items, grid)
        for name, items in load(args.quick).items()
    }
    print(f"routing replay on held-out halves; paid shares {shares[0]:g}..{shares[-1]:g}")
    for name, r in results.items():
        show(name, r)
    elapsed = time.perf_counter() - started
    print(f"\nrun took {elapsed:.1f} s")
    if args.json:
        report = {
            "date": date.today().isoformat(),
            "mode": "quick" if args.quick else "full",
            "machine": describe_machine(),
            "seconds": elapsed,
            "datasets": results,
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
