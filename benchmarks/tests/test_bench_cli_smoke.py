"""The CLI benchmark runs and reports its figures (their values are not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench_cli.py"


def test_bench_cli_reports_help_latency_against_python_startup(tmp_path: Path) -> None:
    out = tmp_path / "cli.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--runs", "2", "--json", str(out)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())
    assert figures["tta_help_s"] > 0
    assert figures["python_startup_s"] > 0
    assert figures["tta_help_over_python"] > 0
    assert "tta --help" in result.stdout
