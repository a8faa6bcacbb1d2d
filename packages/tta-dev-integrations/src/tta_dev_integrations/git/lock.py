"""A per-clone lock so that agents sharing one clone take turns.

``fcntl.flock`` on ``<git common dir>/tta-agent.lock``: held by an open file, so
it is released if the holder dies, shared by every worktree of the clone, and
exclusive between processes and between tasks of one process (each acquisition
opens its own file). Acquisition polls with a non-blocking ``flock`` so the event
loop is never blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import TracebackType

from tta_dev_integrations.git.errors import LockTimeoutError

__all__ = ["LOCK_FILE", "RepoLock"]

#: The lock file's name inside the clone's common git directory.
LOCK_FILE = "tta-agent.lock"


class RepoLock:
    """``async with RepoLock(path):`` holds an exclusive ``flock`` on ``path``.

    Waits at most ``timeout`` seconds, then raises :class:`LockTimeoutError`
    naming the holder's pid. ``sleep`` and ``clock`` are injectable for tests.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 120.0,
        poll: float = 0.01,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self.poll = poll
        self._sleep = sleep
        self._clock = clock
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    async def acquire(self) -> None:
        """Take the lock, waiting (without blocking the loop) up to ``timeout``."""
        if self._fd is not None:
            raise RuntimeError("RepoLock is not re-entrant: this object already holds it")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        deadline = self._clock() + self.timeout
        delay = self.poll
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self._clock() >= deadline:
                        raise self._timeout_error(fd) from None
                    await self._sleep(delay)
                    delay = min(delay * 2, 0.2)
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Let the lock go (a no-op if not held)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _timeout_error(self, fd: int) -> LockTimeoutError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        return LockTimeoutError(
            f"another agent (pid {holder}) held {self.path} for over {self.timeout:g} s",
            hint="wait for it to finish, or raise GitPolicy(lock_timeout=...); if that "
            "process is gone the lock is already free",
        )

    async def __aenter__(self) -> RepoLock:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
