"""The agent-loop benchmark runs and reports its measurement (its figures are not checked)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench_agent.py"


def test_quick_run_reports_the_overhead_per_step(tmp_path: Path) -> None:
    out = tmp_path / "agent.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["mode"] == "quick"
    figures = report["measurements"]["agent_step_overhead"]
    for field in ("ours_ms", "baseline_ms", "overhead_ms_per_step", "ratio"):
        assert math.isfinite(figures[field])
    assert figures["ours_ms"] > 0
    assert figures["baseline_ms"] > 0
    assert "agent loop vs hand-written loop" in run.stdout
