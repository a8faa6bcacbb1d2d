"""The routing benchmarks run and report every figure (the figures are not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1]


def run(script: str, out: Path, *extra: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--json", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict = json.loads(out.read_text(encoding="utf-8"))
    return report


def test_simulator_reports_every_policy_per_round_and_every_target(tmp_path: Path) -> None:
    report = run("bench_routing_sim.py", tmp_path / "sim.json")
    assert report["mode"] == "quick"
    rows = report["rows"]
    for name in ("always the strongest", "tier oracle", "per-prompt oracle",
                 "one wrong prior, feedback 20%"):  # fmt: skip
        assert len(rows[name]["success"]) == 5, name
        assert all(0.0 <= s <= 1.0 for s in rows[name]["success"]), name
    # the strongest model always costs its price; the oracles never more than it
    assert rows["always the strongest"]["usd_per_1k"] == pytest.approx([15.0] * 5)
    assert rows["per-prompt oracle"]["usd_per_1k"][0] < 15.0
    for name in ("UniversalLLMPrimitive, correct priors, feedback 20%",
                 "UniversalLLMPrimitive, one wrong prior, feedback 20%"):  # fmt: skip
        assert len(rows[name]["success"]) == 5, name  # the real primitive served every round
        assert 0.0 < rows[name]["usd_per_1k"][0] < 15.0, name
    assert len(report["targets"]) == 14
    assert all(isinstance(v, bool) for v in report["targets"].values())
    # The targets' figures are paired per seed: (mean over seeds, its standard error).
    gap = rows["one wrong prior, feedback 20%"]["success_minus_tier_oracle"]
    assert len(gap) == 5
    assert all(len(pair) == 2 and pair[1] >= 0.0 for pair in gap)
    assert report["first_seed"] == 100  # reported on seeds no setting was chosen on


def test_replay_reports_every_dataset_against_its_baselines(tmp_path: Path) -> None:
    report = run("bench_routing_replay.py", tmp_path / "replay.json")
    datasets = report["datasets"]
    assert set(datasets) == {"mmlu", "gsm8k", "mt_bench", "alpaca_eval"}
    for name, figures in datasets.items():
        assert figures["always_strongest"] == {"quality": 1.0, "cost": 1.0}, name
        assert 0.0 < figures["always_cheapest"]["cost"] < 1.0, name
        assert figures["oracle"]["quality"] >= 1.0, name  # the oracle never does worse
        # the scorer's settings and ranking come from cross-validation in the training half
        assert len(figures["cross_validation"]) == 2, name  # the quick run's two candidates
        assert figures["scorer_settings"]["ranking"] in {"gain", "gain per dollar"}, name
        assert 0.0 < figures["score_us"] < 100_000, name
        for variant in ("before learning", "after learning"):
            curve = figures["curves"][variant]
            assert [p["paid_share"] for p in curve] == [0.0, 0.25, 0.5, 0.75, 1.0]
            assert curve[-1]["quality"] == pytest.approx(1.0), name  # all paid: the strongest
            assert 0.0 <= figures["saving_at_95"][variant] <= 1.0, name
        # The real UniversalLLMPrimitive, driven by the replay provider, routes as decide()
        # alone does, and its responses cost what the recorded usage costs.
        real = figures["through_primitive"]
        assert real["prompts"] > 0, name
        assert real["same_choice"] == 1.0, name
        # (settled in whole micro-dollars: MMLU calls cost ~$0.001, so within a tenth of 1%)
        assert real["ledger_spent_vs_recorded"] == pytest.approx(1.0, rel=0.005), name
