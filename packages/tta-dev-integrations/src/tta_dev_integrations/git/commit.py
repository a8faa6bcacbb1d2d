"""Smart commit: stage the task's changes, refuse secrets, write a Conventional message."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tta_dev_integrations.git.branch import TaskBranch
from tta_dev_integrations.git.errors import (
    GitError,
    NothingToCommitError,
    ProtectedBranchError,
    RepositoryStateError,
    SecretFinding,
    SecretsFoundError,
)
from tta_dev_integrations.git.message import MessageWriter, draft_message, write_message
from tta_dev_integrations.git.policy import GitPolicy
from tta_dev_integrations.git.repo import GitPrimitive
from tta_dev_integrations.git.runner import GitRunner
from tta_dev_integrations.git.secret_scan import scan_staged
from tta_dev_integrations.git.staging import stage_task_changes, unstage
from tta_dev_integrations.git.state import ensure_workable
from tta_dev_primitives import WorkflowContext

__all__ = ["CommitInput", "CommitRequest", "CommitResult", "GitCommitPrimitive"]

_DIFF_FOR_WRITER = 12_000


@dataclass(frozen=True, slots=True)
class CommitRequest:
    """What to commit.

    * ``message``: used as given; otherwise written from the staged changes.
    * ``task``: the task's description (subject and type of the message).
    * ``paths``: stage only changes under these paths.
    * ``stage_all``: stage every change even when something is staged already
      (by default an existing staging is respected).
    * ``branch``: refuse unless this is the current branch.
    * ``allow_protected``: allow a commit on the default or a protected branch.
    """

    message: str | None = None
    task: str | None = None
    paths: tuple[str, ...] | None = None
    stage_all: bool = False
    branch: str | None = None
    allow_protected: bool = False
    repo: str | os.PathLike[str] | None = None


@dataclass(frozen=True, slots=True)
class CommitResult:
    """The commit made: id, branch, message, files, and secret files left out."""

    sha: str
    branch: str
    message: str
    files: tuple[str, ...]
    skipped: tuple[str, ...]
    repo: Path
    task: str | None = None


CommitInput = CommitRequest | TaskBranch | str | os.PathLike[str] | None
"""A request, the ``TaskBranch`` from the branch primitive, a repository path, or None."""


def _as_request(value: CommitInput) -> CommitRequest:
    if isinstance(value, CommitRequest):
        return value
    if isinstance(value, TaskBranch):
        return CommitRequest(task=value.task, branch=value.name, repo=value.repo)
    if value is None:
        return CommitRequest()
    return CommitRequest(repo=value)


class GitCommitPrimitive(GitPrimitive[CommitInput, CommitResult]):
    """Stage, scan and commit the task's changes on the current (task) branch.

    Refuses: a detached HEAD or an operation in progress; the default or a
    protected branch (unless allowed); secret-looking files staged by someone
    else; any secret detect-secrets finds on an added line. ``message_writer``
    may write the body (see :mod:`tta_dev_integrations.git.message`).
    """

    name = "git.commit"

    def __init__(
        self,
        repo: str | os.PathLike[str] | None = None,
        *,
        policy: GitPolicy | None = None,
        message_writer: MessageWriter | None = None,
        git: str = "git",
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(repo, policy=policy, git=git, timeout=timeout, env=env)
        self.message_writer = message_writer

    async def _execute_impl(
        self, input_data: CommitInput, context: WorkflowContext
    ) -> CommitResult:
        request = _as_request(input_data)
        repo = self._open(request.repo)
        runner, policy = repo.runner, repo.policy
        async with repo.locked() as state:
            ensure_workable(state, "commit")
            branch = state.branch or ""
            if request.branch is not None and branch != request.branch:
                raise RepositoryStateError(
                    f"cannot commit for {request.branch!r}: the current branch is {branch!r}",
                    hint=f"`git switch {request.branch}` first",
                )
            default = await repo.default_branch(has_remote=await repo.has_remote())
            allowed = request.allow_protected or policy.allow_commit_on_protected
            if policy.is_protected(branch, default) and not allowed:
                raise ProtectedBranchError(
                    f"refusing to commit on {branch!r}: it is the default or a protected branch",
                    branch=branch,
                    hint='start a task branch (`tta git start "task"`), or pass '
                    "allow_protected=True if this commit really belongs there",
                )
            staging = await stage_task_changes(
                runner, policy, paths=request.paths, stage_all=request.stage_all
            )
            if not staging.files:
                skipped = f" ({', '.join(staging.skipped)} left out as secret)" * bool(
                    staging.skipped
                )
                raise NothingToCommitError(
                    f"nothing to commit on {branch!r}{skipped}",
                    hint="change some files first; ignored files are never staged",
                )
            findings = await scan_staged(runner, staging.files)
            if findings:
                raise await _refuse_secrets(runner, findings)
            message = request.message
            if not message or not message.strip():
                diff = ""
                if self.message_writer is not None:
                    diff = (await runner.text("diff", "--cached", "--no-color", "--no-ext-diff"))[
                        :_DIFF_FOR_WRITER
                    ]
                draft = draft_message(staging.files, task=request.task, branch=branch, diff=diff)
                message = await write_message(draft, self.message_writer, context)
            await runner.run("commit", "--quiet", "--file=-", stdin=message)
            sha = await runner.text("rev-parse", "--verify", "HEAD")
        return CommitResult(
            sha=sha,
            branch=branch,
            message=message,
            files=tuple(f.path for f in staging.files),
            skipped=staging.skipped,
            repo=state.root,
            task=request.task,
        )


async def _refuse_secrets(runner: GitRunner, findings: list[SecretFinding]) -> SecretsFoundError:
    """The refusal, after taking the flagged files out of the index.

    Left staged, a secret would go into the next plain ``git commit``; the work tree
    keeps the file as it is, so nothing the user wrote is lost.
    """
    flagged = sorted({finding.path for finding in findings})
    try:
        await unstage(runner, flagged)
    except GitError:
        return SecretsFoundError(findings)  # its hint says how to unstage by hand
    return SecretsFoundError(findings, unstaged=flagged)
