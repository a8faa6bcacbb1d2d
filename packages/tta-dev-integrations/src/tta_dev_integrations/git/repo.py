"""One clone as the primitives see it: a runner, a policy and the clone's lock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Generic, TypeVar

from tta_dev_integrations.git.lock import LOCK_FILE, RepoLock
from tta_dev_integrations.git.policy import GitPolicy
from tta_dev_integrations.git.runner import GitRunner
from tta_dev_integrations.git.state import (
    RepoState,
    checked_remote,
    default_branch,
    read_state,
)
from tta_dev_primitives import WorkflowPrimitive

__all__ = ["GitPrimitive", "GitRepo"]

TIn = TypeVar("TIn")
TOut = TypeVar("TOut")


class GitRepo:
    """A clone at ``path`` under ``policy``; ``locked()`` is the critical section."""

    def __init__(
        self,
        path: str | os.PathLike[str] = ".",
        *,
        policy: GitPolicy | None = None,
        git: str = "git",
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.policy = policy or GitPolicy()
        self.runner = GitRunner(self.path, git=git, timeout=timeout, env=env)

    def __repr__(self) -> str:
        return f"GitRepo(path={str(self.path)!r})"

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[RepoState]:
        """Hold the clone's lock; yields the state read once the lock is held.

        From then on the runner works at the root of the work tree, so paths in
        git's output are relative to the root.
        """
        state = await read_state(self.runner)
        self.runner.repo = state.root
        async with RepoLock(state.common_dir / LOCK_FILE, timeout=self.policy.lock_timeout):
            yield await read_state(self.runner)

    async def has_remote(self) -> bool:
        """Whether the policy's remote exists (its URLs are validated when it does)."""
        return await checked_remote(self.runner, self.policy.remote)

    async def default_branch(self, *, has_remote: bool) -> str:
        """The default branch under this repository's policy."""
        return await default_branch(self.runner, self.policy, has_remote=has_remote)


class GitPrimitive(WorkflowPrimitive[TIn, TOut], Generic[TIn, TOut]):
    """Base of the git primitives: where the clone is and which policy holds.

    ``repo`` is used unless the input names its own repository (a ``TaskBranch``
    or a path carries one); with neither, the current directory.
    """

    def __init__(
        self,
        repo: str | os.PathLike[str] | None = None,
        *,
        policy: GitPolicy | None = None,
        git: str = "git",
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.repo = Path(repo) if repo is not None else None
        self.policy = policy or GitPolicy()
        self._git = git
        self._timeout = timeout
        self._env = env

    def _open(self, path: str | os.PathLike[str] | None = None) -> GitRepo:
        where = Path(path) if path is not None else (self.repo or Path())
        return GitRepo(
            where, policy=self.policy, git=self._git, timeout=self._timeout, env=self._env
        )
