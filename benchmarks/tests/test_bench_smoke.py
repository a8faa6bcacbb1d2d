"""The benchmark script runs and reports every measurement (its timings are not checked)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench_primitives.py"
MEASUREMENTS = ("chain_step", "parallel_branch", "retry_call", "tracing_ratio", "import_time")


def test_quick_run_reports_the_five_measurements(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["mode"] == "quick"
    measurements = report["measurements"]
    for key in MEASUREMENTS:
        figures = measurements[key]
        for field in ("ours", "baseline", "overhead", "target"):
            value = figures[field]
            assert isinstance(value, int | float), (key, field, value)
            assert math.isfinite(value), (key, field, value)
        assert figures["ours"] > 0, key
        assert figures["baseline"] > 0, key
        assert isinstance(figures["passed"], bool), key
        assert figures["label"] in run.stdout, key  # and it is in the printed table
