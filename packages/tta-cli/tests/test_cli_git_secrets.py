"""``tta git commit`` refusing a secret takes the flagged file out of the index and says so."""

from __future__ import annotations

import subprocess
from pathlib import Path

AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLE"  # AWS's documented example key id, split


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


def test_a_refused_commit_unstages_the_secret_and_says_so(tmp_path: Path, tta) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("hello\n")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "-q", "-m", "first")
    _git(repo, "switch", "-q", "-c", "agent/work")
    leaked = f'KEY_ID = "{AWS_KEY}"\n'
    (repo / "client.py").write_text(leaked)
    _git(repo, "add", "client.py")

    result = tta("git", "commit", "-C", str(repo), env={"OTEL_TRACES_EXPORTER": "none"})

    assert result.returncode == 1
    assert "refusing to commit" in result.stderr
    assert "unstaged client.py" in result.stderr
    assert "the files themselves are unchanged" in result.stderr
    assert AWS_KEY not in result.stderr
    assert _git(repo, "diff", "--cached", "--name-only") == ""
    assert (repo / "client.py").read_text() == leaked
