"""``tta git`` against real repositories (a clone and its bare remote)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from git_repos import isolated_git, make_clone, remote_refs
from tta_cli.errors import CLIError

_ = isolated_git
pytestmark = pytest.mark.usefixtures("isolated_git")


@pytest.fixture
def app(app_with: Callable[..., typer.Typer]) -> typer.Typer:
    return app_with("git")


def run(app: typer.Typer, *args: str) -> tuple[int, str, BaseException | None]:
    result = CliRunner().invoke(app, ["git", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output, result.exception


def test_start_commit_push_cleanup(app: typer.Typer, tmp_path: Path) -> None:
    clone = make_clone(tmp_path, hook=True)
    repo = str(clone.work)

    code, out, _ = run(app, "start", "Fix the flaky parser", "-C", repo)
    assert code == 0, out
    assert "on agent/fix-the-flaky-parser" in out
    assert clone.branch() == "agent/fix-the-flaky-parser"

    clone.write("src/app.py", "def main():\n    return 3\n")
    clone.write(".env", "TOKEN=x\n")
    code, out, _ = run(app, "commit", "--task", "Fix the flaky parser", "-C", repo)
    assert code == 0, out
    assert "fix: the flaky parser" in out
    assert "left out (secret-looking): .env" in out

    code, out, _ = run(app, "push", "-C", repo)
    assert code == 0, out
    assert "origin/agent/fix-the-flaky-parser" in out
    assert remote_refs(clone.remote)["refs/heads/agent/fix-the-flaky-parser"] == clone.head()

    clone.git("switch", "-q", "main")
    clone.git("merge", "-q", "agent/fix-the-flaky-parser")
    clone.git("push", "-q", "origin", "main")
    before = clone.git("for-each-ref")
    code, out, _ = run(app, "cleanup", "--dry-run", "-C", repo)
    assert code == 0, out
    assert "would delete" in out
    assert "agent/fix-the-flaky-parser" in out
    assert clone.git("for-each-ref") == before
    code, out, _ = run(app, "cleanup", "-C", repo)
    assert code == 0, out
    assert "refs/heads/agent/fix-the-flaky-parser" not in remote_refs(clone.remote)
    code, out, _ = run(app, "cleanup", "-C", repo)
    assert "nothing to clean up" in out


def test_refusals_are_one_line_errors_with_a_hint(app: typer.Typer, tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    clone.write("src/app.py", "x = 1\n")
    code, _, error = run(app, "commit", "-C", str(clone.work))
    assert code == 1
    assert isinstance(error, CLIError)
    assert "refusing to commit on 'main'" in str(error)
    assert "tta git start" in str(error)
    code, _, error = run(app, "push", "--branch", "+agent/x", "-C", str(clone.work))
    assert isinstance(error, CLIError)
    assert "force-updates" in str(error)


def test_real_subprocess_reports_an_error_line(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    clone.git("switch", "-q", "--detach", "HEAD")
    out = subprocess.run(
        [sys.executable, "-m", "tta_cli.app", "git", "start", "task", "-C", str(clone.work)],
        capture_output=True,
        text=True,
        check=False,
    )
    if "No module named" in out.stderr or "ModuleNotFoundError" in out.stderr:
        pytest.fail(f"tta could not start: {out.stderr[-500:]}")
    assert out.returncode == 1, out.stderr
    assert "HEAD is detached" in out.stderr
    assert "git switch" in out.stderr
