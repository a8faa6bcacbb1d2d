"""The git runner (hardened environment, timeouts, errors) and the per-clone lock."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

import pytest

from git_repos import git, isolated_git
from tta_dev_integrations.git import (
    GitCommandError,
    GitError,
    GitRunner,
    GitTimeoutError,
    LockTimeoutError,
    RepoLock,
)

pytestmark = pytest.mark.usefixtures("isolated_git")
_ = isolated_git


async def test_environment_is_hardened_and_repo_overrides_are_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git(tmp_path, "init", "-q", "repo")
    elsewhere = tmp_path / "elsewhere"
    git(tmp_path, "init", "-q", str(elsewhere))
    monkeypatch.setenv("GIT_DIR", str(elsewhere / ".git"))
    runner = GitRunner(tmp_path / "repo", env={"EXTRA": "1"})
    env = runner.environment()
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_OPTIONAL_LOCKS"] == "0"
    assert env["EXTRA"] == "1"
    assert "GIT_DIR" not in env
    top = await runner.text("rev-parse", "--show-toplevel")
    assert Path(top) == (tmp_path / "repo").resolve()
    assert await runner.text("config", "--get", "protocol.ext.allow") == "never"


async def test_failure_is_a_typed_error_with_stderr(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "repo")
    runner = GitRunner(tmp_path / "repo")
    with pytest.raises(GitCommandError) as caught:
        await runner.run("rev-parse", "--verify", "no-such-ref")
    assert caught.value.returncode != 0
    assert "no-such-ref" in str(caught.value)
    result = await runner.run("rev-parse", "--verify", "no-such-ref", check=False)
    assert not result.ok


async def test_credentials_in_arguments_and_stderr_are_redacted(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "repo")
    runner = GitRunner(tmp_path / "repo")
    with pytest.raises(GitCommandError) as caught:
        await runner.run("ls-remote", "https://bot:hunter2@127.0.0.1:9/r.git", time_limit=20)
    assert "hunter2" not in str(caught.value)
    assert "hunter2" not in caught.value.stderr


async def test_missing_binary(tmp_path: Path) -> None:
    runner = GitRunner(tmp_path, git=str(tmp_path / "no-git-here"))
    with pytest.raises(GitError, match="not found"):
        await runner.run("status")


async def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = tmp_path / "slow-git"
    fake.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 30\n")
    fake.chmod(0o755)
    runner = GitRunner(tmp_path, git=str(fake), timeout=0.5)
    with pytest.raises(GitTimeoutError) as caught:
        await runner.run("fetch")
    assert caught.value.hint
    pid = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_lock_is_exclusive_between_tasks(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    inside = 0
    most = 0
    order: list[str] = []

    async def agent(name: str) -> None:
        nonlocal inside, most
        async with RepoLock(path, timeout=10):
            inside += 1
            most = max(most, inside)
            order.append(f"{name}-in")
            await asyncio.sleep(0.02)
            order.append(f"{name}-out")
            inside -= 1

    await asyncio.gather(*(agent(str(i)) for i in range(5)))
    assert most == 1
    assert all(order[i][:-3] == order[i + 1][:-4] for i in range(0, len(order), 2))


async def test_lock_times_out_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    clock = [0.0]

    async def fake_sleep(seconds: float) -> None:
        clock[0] += seconds

    async with RepoLock(path):
        waiting = RepoLock(path, timeout=1.0, sleep=fake_sleep, clock=lambda: clock[0])
        with pytest.raises(LockTimeoutError) as caught:
            await waiting.acquire()
    assert str(os.getpid()) in str(caught.value)
    assert not waiting.held
    async with RepoLock(path, timeout=1.0) as again:
        assert again.held


async def test_lock_is_exclusive_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from tta_dev_integrations.git import RepoLock
        async def main():
            async with RepoLock({str(path)!r}):
                print("locked", flush=True)
                sys.stdin.readline()
        asyncio.run(main())
        """
    )
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert (await holder.stdout.readline()).strip() == b"locked"
        with pytest.raises(LockTimeoutError):
            await RepoLock(path, timeout=0.2).acquire()
        holder.stdin.write(b"\n")
        await holder.stdin.drain()
        assert await holder.wait() == 0
        async with RepoLock(path, timeout=10) as lock:
            assert lock.held
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
