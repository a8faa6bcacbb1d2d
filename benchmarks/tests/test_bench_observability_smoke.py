"""The observability benchmark runs and reports every measurement (timings not checked)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench_observability.py"
MEASUREMENTS = ("metric_updates", "exemplar", "exporter_on_loop_ratio", "exporter_write")


def test_quick_run_reports_the_four_measurements(tmp_path: Path) -> None:
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
    measurements = report["measurements"]
    assert set(measurements) == set(MEASUREMENTS)
    for key, figures in measurements.items():
        for field in ("ours", "baseline", "overhead"):
            assert math.isfinite(figures[field]), (key, field)
        assert figures["label"] in run.stdout, key
    assert measurements["metric_updates"]["target"] == 2.0
