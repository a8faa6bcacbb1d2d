"""``tta demo`` end to end: a real process, the local model, the ledger and the screen."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tta_dev_primitives.observability.otlp_json import read_span_line

ARTIFACTS = Path(
    os.environ.get("TTA_TEST_ARTIFACTS") or Path(__file__).parents[3] / "test-artifacts"
)
TASK_IDS = [f"T{i}" for i in range(1, 9)]


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"TTA_HOME": str(home), "COLUMNS": "80", **extra}


@pytest.mark.needs("local-model")
def test_demo_triages_the_backlog_on_the_local_model(tmp_path, local_model, tta, ledger_entries):
    home = tmp_path / "home"
    result = tta("demo", env=_env(home))
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    rows = [line.split() for line in out.splitlines() if line[:4].strip() in TASK_IDS]
    assert sorted(row[0] for row in rows if "$0.00" in row) == TASK_IDS
    assert "local" in out
    assert "tta budget" in out
    assert "tta traces" in out
    assert "Budget" in out
    assert "left $5.00" in out
    # Each task's research agent searched the sources through its tool, and showed it.
    assert out.count("agent: search(") >= len(TASK_IDS)
    # What the ledger holds: free calls only (each task's draft and its research agent's
    # steps), in the demo scope, all on the local model.
    entries = ledger_entries(home, "demo")
    assert len(entries) >= 2 * len(TASK_IDS)
    assert {e.model for e in entries} == {"local"}
    assert all(e.state == "free" and e.ok for e in entries)
    assert sum(e.output_tokens for e in entries) > 0
    # The run was traced into the embedded span file, which `tta traces` reads.
    spans = home / "traces" / "spans.jsonl"
    names = {
        span["name"] for line in spans.read_text().splitlines() for span in read_span_line(line)
    }
    assert {"triage", "task", "draft-plan", "research", "execute_tool search"} <= names


def test_demo_rejects_a_broken_tasks_file_in_one_line(tmp_path, tta):
    tasks = tmp_path / "tasks.json"
    tasks.write_text('[{"id": "A", "title": ""}]')
    result = tta("demo", "--tasks", str(tasks), env=_env(tmp_path / "home"))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("tta: error: task #1 has no 'title'")
    assert "Traceback" not in result.stderr


def test_demo_with_an_unknown_profile_is_a_usage_error(tmp_path, app_with):
    result = CliRunner().invoke(app_with("demo"), ["demo", "--profile", "cheap"])
    assert result.exit_code == 2
    assert "free, careful, unlimited" in result.output


@pytest.mark.needs("local-model")
@pytest.mark.needs("tmux")
def test_demo_screen_at_80_columns_does_not_wrap(tmp_path, local_model):
    """Run under tmux at 80x200, capture the screen: every line fits, tables stay aligned."""
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (Debian package tmux)")
    session = f"tta-demo-{os.getpid()}"
    env = {**os.environ, **_env(tmp_path / "home", TERM="xterm-256color")}
    env.pop("COLUMNS")
    command = f"{sys.executable} -m tta_cli.app demo; echo DEMO-EXIT=$?; sleep 60"
    subprocess.run(
        ["tmux", "-L", session, "new-session", "-d", "-s", session, "-x", "80", "-y", "200",
         command],
        env=env, check=True, timeout=10,
    )  # fmt: skip
    try:
        screen = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "DEMO-EXIT=" not in screen:
            time.sleep(0.5)
            screen = subprocess.run(
                ["tmux", "-L", session, "capture-pane", "-p", "-J", "-t", session, "-S", "-200"],
                capture_output=True, text=True, check=True, timeout=10,
            ).stdout  # fmt: skip
    finally:
        subprocess.run(["tmux", "-L", session, "kill-server"], check=False, timeout=10)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "tta-demo-80-columns.txt").write_text(screen)
    assert "DEMO-EXIT=0" in screen, screen
    lines = screen.splitlines()
    assert max(len(line) for line in lines) <= 80
    # Every task has its row, and each row reaches the last column (nothing cut off).
    rows = [line for line in lines if line[:3].strip() in TASK_IDS and "$" in line]
    assert [row.split()[0] for row in rows] == sorted(TASK_IDS)
    assert all(row.rstrip().endswith(("ok", "fallback", "error")) for row in rows), rows
    assert "Next:" in screen
