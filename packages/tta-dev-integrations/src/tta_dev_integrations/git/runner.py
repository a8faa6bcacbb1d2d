"""Run the real ``git`` binary: argument lists, no shell, a hardened environment, timeouts.

Every call is ``git -C <repo> <hardening -c options> <args>``. Arguments are never
joined into a shell line, so an agent-supplied string can at worst be one
argument; callers put ``--end-of-options`` before names so that even that
argument cannot become an option.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tta_dev_integrations.git.errors import GitCommandError, GitError, GitTimeoutError

__all__ = ["GitOutput", "GitRunner", "redact_url"]

# Options that hold for every command: no transport that runs a program
# (ext::, fd::), no pager, no colour codes in what we parse, and paths shown
# as-is instead of C-quoted.
_HARDENING = (
    "-c", "protocol.ext.allow=never",
    "-c", "protocol.fd.allow=never",
    "-c", "core.pager=cat",
    "-c", "color.ui=false",
    "-c", "core.quotePath=false",
    "-c", "advice.detachedHead=false",
)  # fmt: skip

# Variables that would point git at another repository, index or object store
# than the one we were given (e.g. when running inside a hook).
_REPO_OVERRIDES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
    "GIT_EXEC_PATH",
)

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")


def redact_url(text: str) -> str:
    """``text`` with the user-info (name, password or token before ``@``) of any URL removed."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


@dataclass(frozen=True, slots=True)
class GitOutput:
    """What one git command returned."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """Whether git exited with 0."""
        return self.returncode == 0


class GitRunner:
    """Runs git commands in one repository (``repo``) with a timeout each.

    ``env`` adds or overrides environment variables for git (e.g. ``HOME``); the
    hardening variables (no terminal prompt, no pager, no optional locks) always win.
    """

    def __init__(
        self,
        repo: str | os.PathLike[str] = ".",
        *,
        git: str = "git",
        timeout: float = 120.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.repo = Path(repo)
        self.git = git
        self.timeout = timeout
        self._extra_env = dict(env or {})

    def __repr__(self) -> str:
        return f"GitRunner(repo={str(self.repo)!r})"

    def environment(self) -> dict[str, str]:
        """The environment git runs with."""
        env = {k: v for k, v in os.environ.items() if k not in _REPO_OVERRIDES}
        env.update(self._extra_env)
        env.update(
            GIT_TERMINAL_PROMPT="0",
            GIT_PAGER="cat",
            PAGER="cat",
            GIT_EDITOR=":",
            GIT_SEQUENCE_EDITOR=":",
            # Reads (status, diff) must not take index.lock behind another agent's back.
            GIT_OPTIONAL_LOCKS="0",
            # Parse stable English messages (push rejections, prune output).
            LC_ALL="C",
            LANG="C",
        )
        return env

    async def run(
        self,
        *args: str,
        check: bool = True,
        stdin: str | None = None,
        time_limit: float | None = None,
        hint: str | None = None,
    ) -> GitOutput:
        """Run ``git <args>``; raise :class:`GitCommandError` on failure when ``check``.

        ``time_limit`` overrides the runner's timeout (seconds) for this call.
        """
        limit = self.timeout if time_limit is None else time_limit
        argv = [self.git, "-C", str(self.repo), *_HARDENING, *args]
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=self.environment(),
                # No controlling terminal: nothing (ssh included) can prompt and hang.
                start_new_session=True,
            )
        except FileNotFoundError as error:
            raise GitError(
                f"the git binary {self.git!r} was not found",
                hint="install git or pass GitRunner(git='/path/to/git')",
            ) from error
        data = stdin.encode() if stdin is not None else None
        try:
            out, err = await asyncio.wait_for(process.communicate(data), limit)
        except TimeoutError:
            _kill_group(process)
            await process.wait()
            raise GitTimeoutError(_shown(args), limit) from None
        except BaseException:
            _kill_group(process)
            await process.wait()
            raise
        result = GitOutput(
            returncode=process.returncode if process.returncode is not None else -1,
            stdout=out.decode("utf-8", "replace"),
            stderr=redact_url(err.decode("utf-8", "replace")),
        )
        if check and not result.ok:
            raise GitCommandError(
                _shown(args), result.returncode, result.stderr, hint=hint or _known_hint(result)
            )
        return result

    async def text(self, *args: str, stdin: str | None = None, hint: str | None = None) -> str:
        """Run ``git <args>`` (checked) and return its stdout without the final newline."""
        result = await self.run(*args, stdin=stdin, hint=hint)
        return result.stdout.rstrip("\n")


# Messages of git's worth a fixed explanation, and what to do about them.
_KNOWN_FAILURES = (
    ("transport 'ext' not allowed", "remote helpers (ext::, fd::) are disabled because they "
     "run programs; use an https://, ssh:// or file URL"),
    ("transport 'fd' not allowed", "remote helpers (ext::, fd::) are disabled because they "
     "run programs; use an https://, ssh:// or file URL"),
    ("terminal prompts disabled", "git needed a password: configure a credential helper "
     "(`git help credential`) or an ssh key; prompts are off for agents"),
    ("index.lock", "another git process holds the index lock; wait for it, or remove "
     ".git/index.lock if no git process is running"),
    ("not a git repository", "run inside a clone or pass the repository's path"),
)  # fmt: skip


def _known_hint(result: GitOutput) -> str | None:
    for needle, hint in _KNOWN_FAILURES:
        if needle in result.stderr:
            return hint
    return None


def _shown(args: Sequence[str]) -> list[str]:
    return [redact_url(arg) for arg in args]


def _kill_group(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
