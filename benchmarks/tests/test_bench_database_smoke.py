"""The database benchmark runs and reports every SQLite pair (timings not checked)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench_database.py"
PAIRS = ("fetch_value", "fetch_all", "run", "run_many", "transaction")


def test_quick_run_reports_every_pair(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    measurements = json.loads(out.read_text(encoding="utf-8"))["measurements"]
    assert {f"sqlite_{pair}" for pair in PAIRS} <= set(measurements)
    for key, figures in measurements.items():
        for field in ("ours", "baseline", "overhead"):
            assert math.isfinite(figures[field]), (key, field)
        assert figures["target"] == 1.15
        assert figures["label"] in run.stdout, key
