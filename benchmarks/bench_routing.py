"""How long the router takes to decide, with a 50-model catalog (target: under 50 us).

Measured three times per profile: a decision on the posterior means with exploration
off; one with exploration on whose coins say "do not draw" (the means, then the
money-weighted look at cheaper kept models under the bar: the most a decision that does
not draw does); and one that explores (every decision draws from the posteriors and
chooses twice: the worst case).

Run: .venv/bin/python benchmarks/bench_routing.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from tta_dev_integrations.llm import load_catalog
from tta_dev_integrations.llm.budget.profiles import BudgetProfile
from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.complexity import Complexity
from tta_dev_integrations.llm.policy import Evidence, Exploration
from tta_dev_integrations.llm.routing import QUALITY_BAR, Candidate, RoutingInputs, decide

TARGET_US = 50.0


def fifty_models() -> list[ModelInfo]:
    """The shipped catalog, padded with renamed copies to 50 entries."""
    shipped = list(load_catalog().values())
    models = list(shipped)
    index = 0
    while len(models) < 50:
        base = shipped[index % len(shipped)]
        models.append(replace(base, alias=f"{base.alias}-copy{index}"))
        index += 1
    return models


def scenario(
    profile: BudgetProfile, *, explore: bool = False, weigh: bool = False
) -> RoutingInputs:
    """Half the models with evidence; ``explore``: every decision draws from the posteriors.

    Exploring, the decision's coins always come up "explore" (:class:`AlwaysExplores`),
    so every decision computes whether to explore and then draws: the worst case.
    ``weigh``: the worst case of a decision that does not draw. Exploration on, but the
    coins never come up (:class:`NeverExplores`); the medium tier, the free models' quotas
    exhausted, the dearer a model the better its prior, and every model whose prior meets
    the bar but the dearest held under it by 8 bad judged answers: every decision chooses
    the dearest on the means, then weighs every cheaper kept model against it and every
    trapped one by its chance of meeting the bar (the money-weighted exploration's whole
    computation), without exploring.
    """
    models = fifty_models()
    tier: Complexity = "medium" if weigh else "high"
    stats = {
        m.alias: Evidence(m.alias, tier, judged=4.0, judged_score_sum=3.0, calls=20.0,
                          errors=2.0, mean_latency_s=1.2)
        for m in models[::2]
    }  # fmt: skip
    costs = {m.alias: 0.01 * (i + 1) for i, m in enumerate(models) if not m.free}
    if weigh:  # the better a model on the tier, the dearer: every other one is cheaper
        by_alias = {m.alias: m for m in models}
        ranked = sorted(costs, key=lambda alias: by_alias[alias].quality[tier])
        costs = {alias: 0.01 * (i + 1) for i, alias in enumerate(ranked)}
        for alias in ranked[:-1]:
            if by_alias[alias].quality[tier] >= QUALITY_BAR[tier]:
                stats[alias] = Evidence(alias, tier, judged=8.0, calls=20.0)
        stats.pop(ranked[-1], None)
    return RoutingInputs(
        models=models,
        profile=profile,
        tier=tier,
        worst_case_usd=costs,
        available_providers=frozenset({m.provider for m in models}) - {"ollama"},
        needs=frozenset({"tools"}),
        remaining_usd=None if weigh else 0.25,
        justification_valid=True,
        quota_exhausted=frozenset(
            {m.alias for m in models if weigh and m.free} | {models[3].alias}
        ),
        failed=frozenset({models[5].alias}),
        stats=stats,
        exploration=Exploration(
            share=1.0 if explore else 0.5 if weigh else 0.0, paid_usd_left=None
        ),
        rng=AlwaysExplores(7) if explore else NeverExplores(7) if weigh else random.Random(7),
    )


class AlwaysExplores(random.Random):
    """A generator whose ``random()`` is always 0: every exploration coin says "explore".

    The posterior draws (``getrandbits``) stay random.
    """

    def random(self) -> float:
        return 0.0


class NeverExplores(random.Random):
    """A generator whose ``random()`` is always 0.999: no exploration coin comes up."""

    def random(self) -> float:
        return 0.999


def floor(inputs: RoutingInputs) -> tuple[Candidate, ...]:
    """The least any router must do: one candidate per model, read from the catalog."""
    costs = inputs.worst_case_usd
    return tuple(
        Candidate(m.alias, m.provider, m.free, m.quality[inputs.tier], costs.get(m.alias, 0.0),
                  True, "allowed")
        for m in inputs.models
    )  # fmt: skip


def measure(
    inputs: RoutingInputs, samples: int, loops: int, run: Callable[[RoutingInputs], object]
) -> tuple[float, float]:
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        for _ in range(loops):
            run(inputs)
        times.append((time.perf_counter() - start) / loops * 1e6)
    return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    samples, loops = (5, 200) if args.quick else (21, 2000)
    figures = {}
    print(f"router decision, 50 models, best of {samples} samples (median in brackets)")
    # A reference measured in the same run, for a loaded or slower machine: making one
    # Candidate per model and nothing else.
    reference, _ = measure(scenario(BudgetProfile.CAREFUL), samples, loops, floor)
    figures["one candidate per model (reference)"] = {"best_us": reference}
    print(f"  {'reference':<20} {reference:7.1f} us  one Candidate per model, nothing else")
    for profile in BudgetProfile:
        for mode in ("", ", weighing", ", exploring"):
            inputs = scenario(profile, explore=mode == ", exploring", weigh=mode == ", weighing")
            decide(inputs)  # warm up
            best, median = measure(inputs, samples, loops, decide)
            label = f"{profile.value}{mode}"
            figures[label] = {"best_us": best, "median_us": median, "x_reference": best / reference}
            verdict = "PASS" if best <= TARGET_US else "MISS"
            print(
                f"  {label:<20} {best:7.1f} us [{median:.1f}]  {best / reference:4.1f}x the "
                f"reference  target <= {TARGET_US} us  {verdict}"
            )
    if args.json:
        args.json.write_text(json.dumps({"router_decision": figures}, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
