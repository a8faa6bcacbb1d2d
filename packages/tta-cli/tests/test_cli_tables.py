"""Tables read by programs: no alias or id broken across lines in a pipe, ``--json`` beside
every table, and prices of the base tier (with the long-context tier beside them)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def piped(tmp_path: Path) -> dict[str, str]:
    """The environment of a pipe in CI: no COLUMNS, no keys, a scratch home."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS" and not k.endswith("_API_KEY")}
    return {**env, "TTA_HOME": str(tmp_path / "home"), "OTEL_TRACES_EXPORTER": "none"}


def test_models_through_a_pipe_keeps_every_alias_on_one_line(tta, piped) -> None:
    table = tta("models", env=piped, timeout=60)
    assert table.returncode == 0, table.stderr
    rows = json.loads(tta("models", "--json", env=piped, timeout=60).stdout)
    lines = table.stdout.splitlines()
    for row in rows:
        assert any(row["alias"] in line for line in lines), row["alias"]
        assert any(row["key"].split(" ")[0] in line for line in lines if row["alias"] in line)


def test_models_shows_the_base_tier_and_the_long_context_tier_beside_it(tta, piped) -> None:
    rows = {r["alias"]: r for r in json.loads(tta("models", "--json", env=piped).stdout)}
    sonnet = rows["claude-sonnet-4.5"]
    assert sonnet["usd_per_mtok"] == {"input": 3.0, "output": 15.0}
    assert sonnet["usd_per_mtok_long_context"] == {"input": 6.0, "output": 22.5}
    assert rows["gpt-4o"]["usd_per_mtok_long_context"] is None
    line = next(
        line for line in tta("models", env=piped).stdout.splitlines() if "claude-sonnet-4.5" in line
    )
    assert "3.00/15.00" in line
    assert "6.00/22.50" in line


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def test_git_cleanup_prints_json(tta, piped, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q",
         "--allow-empty", "-m", "first")  # fmt: skip
    _git(repo, "branch", "agent/done")
    result = tta("git", "cleanup", "--local-only", "--json", "-C", str(repo), env=piped)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["base"] == "main"
    assert report["local_branches"] == ["agent/done"]
    assert report["dry_run"] is False
