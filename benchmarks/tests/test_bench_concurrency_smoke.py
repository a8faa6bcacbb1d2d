"""The bounded-concurrency benchmark runs and reports both figures (not their values)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench_concurrency.py"


def test_quick_run_reports_the_map_and_the_bulkhead(tmp_path: Path) -> None:
    out = tmp_path / "concurrency.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    for key in ("map_item", "bulkhead_call"):
        figures = report["measurements"][key]
        for field in ("ours", "baseline", "overhead", "target"):
            assert math.isfinite(figures[field]), (key, field)
        assert figures["ours"] > 0, key
        assert figures["label"] in run.stdout, key
