"""The routed-call benchmark runs and reports every measurement (its figures are not checked)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import postgres_for_tests

SCRIPT = Path(__file__).resolve().parents[1] / "bench_universal.py"
PAIRS = ("empty_sequential", "empty_concurrent", "big_sequential", "big_concurrent")
RATIOS = ("flat_sequential", "flat_concurrent", "ledger_flat")
RATES = ("calls_per_second_1p", "calls_per_second_2p")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench") / "universal.json"
    with postgres_for_tests.server() as admin_url:
        command = [sys.executable, str(SCRIPT), "--quick", "--json", str(out)]
        if admin_url is not None:
            command += ["--postgres-url", admin_url]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(out.read_text(encoding="utf-8")), run.stdout


def check(report: dict[str, Any], stdout: str, backend: str) -> None:
    assert report["mode"] == "quick"
    measurements = report["measurements"]
    for key in (*PAIRS, *RATIOS, *RATES):
        figures = measurements[f"{backend}_{key}"]
        for field in ("ours", "baseline", "overhead", "ours_median"):
            value = figures[field]
            assert isinstance(value, int | float), (key, field, value)
            assert math.isfinite(value), (key, field, value)
        assert figures["ours"] > 0, key
        assert figures["label"] in stdout, key  # and it is printed
    for key in PAIRS:  # a routed call does more than a plain one
        assert measurements[f"{backend}_{key}"]["target"] == 0.3
        assert isinstance(measurements[f"{backend}_{key}"]["passed"], bool)


def test_quick_run_reports_the_sqlite_figures(quick_run: tuple[dict[str, Any], str]) -> None:
    report, stdout = quick_run
    check(report, stdout, "sqlite")
    assert report["measurements"]["sqlite_ledger_normal"]["ours"] > 0
    assert report["machine"]["sqlite"]


@pytest.mark.needs("postgresql")
def test_quick_run_reports_the_postgres_figures(quick_run: tuple[dict[str, Any], str]) -> None:
    report, stdout = quick_run
    if report["postgres_skipped"]:
        pytest.skip(f"the benchmark skipped PostgreSQL: {report['postgres_skipped']}")
    check(report, stdout, "postgres")
    assert report["machine"]["postgres"]
