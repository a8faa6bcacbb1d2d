"""The fleet benchmark runs and reports every measurement (its figures are not checked)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

import redis_for_tests

SCRIPT = Path(__file__).resolve().parents[1] / "bench_fleet.py"
KEYS = ("cache_hit", "rate_limit_check", "breaker_check", "redis_get")


@pytest.mark.needs("redis")
def test_quick_run_reports_every_figure(tmp_path: Path) -> None:
    url = redis_for_tests.shared_redis_url()
    out = tmp_path / "fleet.json"
    command = [sys.executable, str(SCRIPT), "--quick", "--json", str(out), "--redis-url", url]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["mode"] == "quick"
    assert report["machine"]["redis_server"]
    for key in KEYS:
        figures = report["measurements"][key]
        for field in ("ours", "baseline", "overhead"):
            assert math.isfinite(figures[field]), (key, field)
        assert figures["ours"] > 0, key
        assert figures["label"] in run.stdout, key
