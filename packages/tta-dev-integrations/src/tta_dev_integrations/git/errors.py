"""Errors of the git workflow primitives, one tree; each says how to get out.

::

    TTAError (tta_dev_primitives)
    └── GitError                     ``hint`` says what to run or change
        ├── GitCommandError          git exited non-zero (command, exit code, stderr tail)
        │   └── GitTimeoutError      git ran longer than its timeout and was killed
        ├── UnsafeInputError         (also ValueError) an agent-supplied branch name,
        │                            remote name, URL or refspec was refused
        ├── RepositoryStateError     not a repository, detached HEAD, a merge, rebase,
        │                            cherry-pick or revert in progress, conflicts
        ├── ProtectedBranchError     commit or push on the default or a protected branch
        ├── SecretFileError          a secret-looking file (.env, key) is staged
        ├── SecretsFoundError        the staged diff holds a secret (file:line and type)
        ├── NothingToCommitError     nothing staged after applying the staging policy
        ├── PushRejectedError        the remote refused the push, even after one rebase
        ├── RebaseConflictError      rebasing onto the remote branch conflicted (aborted)
        └── LockTimeoutError         another agent held the clone's lock too long

Messages never hold a password, a token or a secret the scanner found: URLs are
shown without their user-info and findings name only the file, line and detector.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tta_dev_primitives import TTAError

__all__ = [
    "GitCommandError",
    "GitError",
    "GitTimeoutError",
    "LockTimeoutError",
    "NothingToCommitError",
    "ProtectedBranchError",
    "PushRejectedError",
    "RebaseConflictError",
    "RepositoryStateError",
    "SecretFileError",
    "SecretFinding",
    "SecretsFoundError",
    "UnsafeInputError",
]


class GitError(TTAError):
    """Base of every git workflow error; ``hint`` says how to fix or get out."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{message}; {hint}" if hint else message)
        self.reason = message
        self.hint = hint


class GitCommandError(GitError):
    """``git`` exited non-zero; ``args`` (redacted), ``returncode`` and ``stderr``."""

    def __init__(
        self,
        args: Sequence[str],
        returncode: int,
        stderr: str,
        *,
        hint: str | None = None,
    ) -> None:
        self.args_shown = tuple(args)
        self.returncode = returncode
        self.stderr = stderr
        tail = " | ".join(line for line in stderr.strip().splitlines()[-4:] if line.strip())
        message = f"`git {' '.join(args)}` failed (exit {returncode})"
        super().__init__(f"{message}: {tail}" if tail else message, hint=hint)


class GitTimeoutError(GitCommandError):
    """``git`` ran longer than its timeout and was killed."""

    def __init__(self, args: Sequence[str], timeout: float) -> None:
        super().__init__(
            args,
            -9,
            f"killed after {timeout:g} s",
            hint="check the network and the remote, or raise the runner's timeout=",
        )
        self.timeout = timeout


class UnsafeInputError(GitError, ValueError):
    """An agent-supplied name, URL or refspec was refused before reaching git."""


class RepositoryStateError(GitError):
    """The repository is in a state where the operation would do harm."""


class ProtectedBranchError(GitError):
    """A commit or push would land on the default or a protected branch."""

    def __init__(self, message: str, *, branch: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.branch = branch


class SecretFileError(GitError):
    """A secret-looking file (``.env``, a private key, credentials) is staged."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = tuple(paths)
        listed = ", ".join(self.paths)
        super().__init__(
            f"refusing to commit: secret-looking file(s) staged: {listed}",
            hint=(
                "unstage them with `git restore --staged -- <path>` and add them to "
                ".gitignore; keep secrets in the secrets loader, not in git"
            ),
        )


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """One scanner hit: where it is and which detector fired; never the secret."""

    path: str
    line: int
    detector: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} ({self.detector})"


class SecretsFoundError(GitError):
    """The staged diff holds something the secret scanner recognises."""

    def __init__(self, findings: Sequence[SecretFinding], *, unstaged: Sequence[str] = ()) -> None:
        self.findings = tuple(findings)
        #: The flagged files taken out of the index (their work-tree copies untouched),
        #: so that a plain ``git commit`` right after cannot commit the secret.
        self.unstaged = tuple(unstaged)
        listed = ", ".join(str(finding) for finding in self.findings)
        message = (
            f"refusing to commit: the staged changes hold {len(self.findings)} possible "
            f"secret(s): {listed}"
        )
        if self.unstaged:
            message += (
                f"; unstaged {', '.join(self.unstaged)} so that no later commit takes it "
                "(the files themselves are unchanged)"
            )
        restage = "stage it again" if self.unstaged else "restage"
        hint = (
            f"move the value to the environment or the secrets loader and {restage}; "
            "if it is a false positive, end the line with `# pragma: allowlist secret`"
        )
        if not self.unstaged:
            hint += "; `git restore --staged <file>` takes a file out of the index"
        super().__init__(message, hint=hint)


class NothingToCommitError(GitError):
    """Nothing is staged once the staging policy has been applied."""


class PushRejectedError(GitError):
    """The remote refused the push (after one rebase when it was a non-fast-forward)."""

    def __init__(self, message: str, *, branch: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.branch = branch


class RebaseConflictError(GitError):
    """Rebasing onto the remote branch conflicted; the rebase was aborted."""

    def __init__(self, branch: str, files: Sequence[str]) -> None:
        self.branch = branch
        self.files = tuple(files)
        listed = ", ".join(self.files) or "unknown files"
        super().__init__(
            f"the remote branch {branch!r} has commits that conflict with yours in "
            f"{listed}; the rebase was aborted and nothing was pushed",
            hint=(
                f"run `git pull --rebase` on {branch!r}, resolve the conflicts, "
                "`git rebase --continue`, then push again"
            ),
        )


class LockTimeoutError(GitError):
    """Another agent held this clone's lock for longer than the timeout."""
