from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "quickstart" / "triage.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.needs("local-model")
def test_triage_demo_triages_the_shipped_backlog() -> None:
    result = run()
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for task_id in (f"T{i}" for i in range(1, 9)):
        assert f"\n{task_id} " in out
    assert "8 tasks triaged" in out
    assert "3 low, 2 medium, 3 high" in out
    # The second pass is served by the cache: as many hits as first-pass misses.
    assert "5 cache hits, 5 misses" in out
    assert "retry(search)" in out
    # Medium and high tasks were drafted by the local model, at no cost.
    drafted = re.findall(r"^T\d\s+(?:medium|high)\s+\d+\s+(\S+)\s+(\d+)\s+\$0\.00", out, re.M)
    assert len(drafted) == 5
    assert all(model == "local" and int(tokens) > 0 for model, tokens in drafted)
    assert "chat local" in out


def test_triage_demo_takes_a_backlog_file(tmp_path: Path) -> None:
    backlog = tmp_path / "tasks.json"
    backlog.write_text(
        json.dumps([{"id": "X1", "title": "Fix typo", "body": "in the README"}]),
        encoding="utf-8",
    )
    result = run(str(backlog))
    assert result.returncode == 0, result.stderr
    assert "1 tasks triaged" in result.stdout
    assert "\nX1   low" in result.stdout
