"""The ledger benchmark runs and reports every measurement (its figures are not checked)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import postgres_for_tests

SCRIPT = Path(__file__).resolve().parents[1] / "bench_ledger.py"
SQLITE = (
    "sqlite_reserve_sequential",
    "sqlite_reserve_settle_sequential",
    "sqlite_reserve_sequential_normal",
    "sqlite_reserve_concurrent",
    "sqlite_reserve_settle_concurrent",
)
POSTGRES = (
    "postgres_reserve_sequential",
    "postgres_reserve_settle_sequential",
    "postgres_reserve_concurrent",
    "postgres_reserve_settle_concurrent",
)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    out = tmp_path_factory.mktemp("bench") / "ledger.json"
    with postgres_for_tests.server() as admin_url:
        command = [sys.executable, str(SCRIPT), "--quick", "--json", str(out)]
        if admin_url is not None:
            command += ["--postgres-url", admin_url]
        run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    return json.loads(out.read_text(encoding="utf-8")), run.stdout


def check(report: dict[str, Any], stdout: str, keys: tuple[str, ...]) -> None:
    assert report["mode"] == "quick"
    for key in keys:
        figures = report["measurements"][key]
        for field in ("per_second", "median_per_second"):
            value = figures[field]
            assert isinstance(value, int | float), (key, field, value)
            assert math.isfinite(value), (key, field, value)
            assert value > 0, (key, field, value)
        assert figures["label"] in stdout, key  # and it is in the printed table


def test_quick_run_reports_the_sqlite_figures(quick_run: tuple[dict[str, Any], str]) -> None:
    report, stdout = quick_run
    check(report, stdout, SQLITE)
    assert report["machine"]["sqlite"]


@pytest.mark.needs("postgresql")
def test_quick_run_reports_the_postgres_figures(quick_run: tuple[dict[str, Any], str]) -> None:
    report, stdout = quick_run
    if report["postgres_skipped"]:
        pytest.skip(f"the benchmark skipped PostgreSQL: {report['postgres_skipped']}")
    check(report, stdout, POSTGRES)
    assert report["machine"]["postgres"]
