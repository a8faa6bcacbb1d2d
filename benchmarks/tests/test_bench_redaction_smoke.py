"""The redaction benchmark runs and reports every text it measures (timings not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench_redaction.py"


def test_quick_run_reports_each_text_against_its_baseline(tmp_path: Path) -> None:
    out = tmp_path / "redaction.json"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert [row["text"] for row in report["rows"]] == ["error", "error+key", "span-10k"]
    for row in report["rows"]:
        assert row["scrub_s"] > 0
        assert row["baseline_s"] > 0
        assert row["text"] in run.stdout
    assert isinstance(report["passed"], bool)
