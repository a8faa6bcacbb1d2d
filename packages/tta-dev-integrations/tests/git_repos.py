"""Real git repositories for the git workflow tests: a clone and its bare remote.

Every test using these runs with ``HOME`` and ``GIT_CONFIG_GLOBAL`` pointed into
its tmp dir and the system config off, so the machine's git config (identity,
hooks, aliases, credential helpers) never leaks in. Identity is set per clone.
"""

from __future__ import annotations

import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

NON_FAST_FORWARD_HOOK = """#!/bin/sh
# Reject any update that is not a fast-forward (deletions and creations pass).
zero=$(git hash-object --stdin </dev/null | tr '[0-9a-f]' '0')
while read old new ref; do
  if [ "$old" != "$zero" ] && [ "$new" != "$zero" ]; then
    if ! git merge-base --is-ancestor "$old" "$new"; then
      echo "pre-receive: non-fast-forward update of $ref refused" >&2
      exit 1
    fi
  fi
done
exit 0
"""


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """Run git in ``cwd`` (a test helper; the code under test has its own runner)."""
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr}")
    return result.stdout.strip()


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No global or system git config; HOME in the tmp dir."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_AUTHOR_NAME",
                 "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return home


def identify(repo: Path, name: str = "Test Agent") -> None:
    git(repo, "config", "user.name", name)
    git(repo, "config", "user.email", "agent@example.invalid")


@dataclass
class Clone:
    """A work tree cloned from ``remote`` (a bare repository) with one commit on main."""

    work: Path
    remote: Path

    def git(self, *args: str, check: bool = True) -> str:
        return git(self.work, *args, check=check)

    def write(self, path: str, text: str) -> Path:
        target = self.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def commit_all(self, message: str) -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def branch(self) -> str:
        return self.git("branch", "--show-current")

    def commit_count(self) -> int:
        return int(self.git("rev-list", "--all", "--count"))


def remote_refs(remote: Path) -> dict[str, str]:
    """Every ref of a (bare) repository: name -> commit id."""
    out = git(remote, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ", 1) for line in out.splitlines())


def make_bare(path: Path, *, default: str = "main", hook: bool = False) -> Path:
    git(path.parent, "init", "-q", "--bare", "-b", default, str(path))
    if hook:
        git(path, "config", "receive.denyNonFastForwards", "true")
        hook_file = path / "hooks" / "pre-receive"
        hook_file.write_text(NON_FAST_FORWARD_HOOK)
        hook_file.chmod(hook_file.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def make_clone(
    tmp_path: Path,
    name: str = "work",
    *,
    default: str = "main",
    hook: bool = False,
    remote: Path | None = None,
) -> Clone:
    """A bare remote seeded with one commit (README.md, src/app.py), and a clone of it."""
    if remote is None:
        remote = make_bare(tmp_path / f"{name}-remote.git", default=default, hook=hook)
        seed = tmp_path / f"{name}-seed"
        git(tmp_path, "init", "-q", "-b", default, str(seed))
        identify(seed, "Seeder")
        (seed / "README.md").write_text("# demo\n")
        (seed / "src").mkdir()
        (seed / "src" / "app.py").write_text("def main():\n    return 1\n")
        (seed / ".gitignore").write_text("*.log\nbuild/\n")
        git(seed, "add", "-A")
        git(seed, "commit", "-q", "-m", "initial")
        git(seed, "push", "-q", str(remote), f"{default}:{default}")
    work = tmp_path / name
    git(tmp_path, "clone", "-q", str(remote), str(work))
    identify(work)
    return Clone(work=work, remote=remote)


def second_clone(clone: Clone, tmp_path: Path, name: str = "other") -> Clone:
    """Another clone of the same remote (another machine's agent)."""
    return make_clone(tmp_path, name, remote=clone.remote)
