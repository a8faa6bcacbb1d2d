"""Push coordination: the task branch to its own name, never protected, never forced.

On a non-fast-forward rejection the branch is rebased once onto the remote
branch and pushed again; a conflicting rebase is aborted and reported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tta_dev_integrations.git.branch import TaskBranch
from tta_dev_integrations.git.commit import CommitResult
from tta_dev_integrations.git.errors import (
    GitError,
    ProtectedBranchError,
    PushRejectedError,
    RebaseConflictError,
    RepositoryStateError,
)
from tta_dev_integrations.git.repo import GitPrimitive, GitRepo
from tta_dev_integrations.git.runner import GitOutput
from tta_dev_integrations.git.state import ensure_workable, ref_sha
from tta_dev_integrations.git.validation import (
    parse_push_refspec,
    validate_branch_name,
    validate_sha,
)
from tta_dev_primitives import WorkflowContext

__all__ = ["GitPushPrimitive", "PushInput", "PushRequest", "PushResult"]

_NON_FAST_FORWARD = ("non-fast-forward", "fetch first")


@dataclass(frozen=True, slots=True)
class PushRequest:
    """What to push.

    * ``branch``: the branch (or a ``b`` / ``b:b`` refspec); the current branch if unset.
    * ``force_with_lease``: replace the remote branch only if it is still at
      ``expected`` (default: our remote-tracking ref of it); never on a protected
      branch.
    """

    branch: str | None = None
    force_with_lease: bool = False
    expected: str | None = None
    repo: str | os.PathLike[str] | None = None


@dataclass(frozen=True, slots=True)
class PushResult:
    """The push done: branch, remote, pushed commit, git's summary, whether rebased."""

    branch: str
    remote: str
    sha: str
    summary: str
    rebased: bool
    upstream: str
    repo: Path


PushInput = PushRequest | CommitResult | TaskBranch | str | None
"""A request, a commit or task branch from an earlier step, a branch name, or None."""


def _as_request(value: PushInput) -> PushRequest:
    if isinstance(value, PushRequest):
        return value
    if isinstance(value, CommitResult | TaskBranch):
        name = value.branch if isinstance(value, CommitResult) else value.name
        return PushRequest(branch=name, repo=value.repo)
    return PushRequest(branch=value)


class GitPushPrimitive(GitPrimitive[PushInput, PushResult]):
    """Push one task branch with ``--set-upstream`` to ``refs/heads/<same name>``.

    Refuses the default and protected branches, force updates (``+``), deletions
    and renames in refspecs; force only as ``--force-with-lease`` when asked.
    Serialised with every other git primitive on the clone by its lock.
    """

    name = "git.push"

    async def _execute_impl(self, input_data: PushInput, context: WorkflowContext) -> PushResult:
        request = _as_request(input_data)
        repo = self._open(request.repo)
        runner, policy = repo.runner, repo.policy
        requested = parse_push_refspec(request.branch) if request.branch else None
        async with repo.locked() as state:
            if state.operation is not None:
                ensure_workable(state, "push")
            branch = requested or state.branch
            if branch is None:
                raise RepositoryStateError(
                    "cannot push: HEAD is detached and no branch was named",
                    hint="switch to the task branch (`git switch <branch>`) or name it",
                )
            await validate_branch_name(runner, branch)
            if not await repo.has_remote():
                raise RepositoryStateError(
                    f"cannot push: there is no remote {policy.remote!r}",
                    hint=f"add one with `git remote add {policy.remote} <url>`",
                )
            default = await repo.default_branch(has_remote=True)
            if policy.is_protected(branch, default):
                raise ProtectedBranchError(
                    f"refusing to push to {branch!r}: it is the default or a protected branch",
                    branch=branch,
                    hint="push a task branch and open a pull request instead",
                )
            if await ref_sha(runner, f"refs/heads/{branch}") is None:
                raise RepositoryStateError(
                    f"cannot push {branch!r}: no such local branch",
                    hint="`git branch --list` shows the local branches",
                )
            lease = await _lease(repo, branch, request) if request.force_with_lease else None
            result = await _push(repo, branch, lease)
            rebased = False
            if not result.ok and _is_non_fast_forward(result) and lease is None:
                await _rebase_onto_remote(repo, branch, current=state.branch == branch)
                rebased = True
                result = await _push(repo, branch, None)
            if not result.ok:
                raise _rejection(branch, result, rebased=rebased)
            sha = await runner.text("rev-parse", "--verify", f"refs/heads/{branch}")
        return PushResult(
            branch=branch,
            remote=policy.remote,
            sha=sha,
            summary=_summary(result),
            rebased=rebased,
            upstream=f"{policy.remote}/{branch}",
            repo=state.root,
        )


async def _lease(repo: GitRepo, branch: str, request: PushRequest) -> str:
    if request.expected is not None:
        expected = validate_sha(request.expected)
    else:
        expected = await ref_sha(repo.runner, f"refs/remotes/{repo.policy.remote}/{branch}") or ""
    return f"--force-with-lease=refs/heads/{branch}:{expected}"


async def _push(repo: GitRepo, branch: str, lease: str | None) -> GitOutput:
    ref = f"refs/heads/{branch}"
    options = ["--porcelain", "--set-upstream", "--no-follow-tags"]
    if lease:
        options.append(lease)
    return await repo.runner.run(
        "push", *options, "--end-of-options", repo.policy.remote, f"{ref}:{ref}", check=False
    )


def _is_non_fast_forward(result: GitOutput) -> bool:
    rejected = [line for line in result.stdout.splitlines() if line.startswith("!")]
    return any(reason in line for line in rejected for reason in _NON_FAST_FORWARD)


async def _rebase_onto_remote(repo: GitRepo, branch: str, *, current: bool) -> None:
    """``git pull --rebase``, spelt out: fetch the remote branch, rebase onto it."""
    runner, remote = repo.runner, repo.policy.remote
    tracking = f"refs/remotes/{remote}/{branch}"
    await runner.run(
        "fetch", "--quiet", "--no-tags", "--end-of-options", remote,
        f"+refs/heads/{branch}:{tracking}",
    )  # fmt: skip
    if not current:
        raise PushRejectedError(
            f"the remote branch {branch!r} moved on and {branch!r} is not checked out here, "
            "so it cannot be rebased",
            branch=branch,
            hint=f"`git switch {branch}` and push again",
        )
    result = await runner.run(
        "rebase", "--autostash", "--no-autosquash", "--end-of-options", tracking, check=False
    )
    if result.ok:
        return
    unmerged = await runner.run("diff", "--name-only", "-z", "--diff-filter=U", check=False)
    files = [path for path in unmerged.stdout.split("\0") if path]
    await runner.run("rebase", "--abort", check=False)
    if files or "CONFLICT" in result.stdout + result.stderr:
        raise RebaseConflictError(branch, files)
    raise GitError(
        f"rebasing {branch!r} onto {remote}/{branch} failed: {result.stderr.strip()[-300:]}",
        hint="commit or stash local changes, then push again",
    )


def _summary(result: GitOutput) -> str:
    for line in result.stdout.splitlines():
        if line[:1] in " *+-!=" and "\t" in line:
            return line.rsplit("\t", 1)[-1].strip()
    return ""


def _rejection(branch: str, result: GitOutput, *, rebased: bool) -> PushRejectedError:
    remote_lines = [
        line.removeprefix("remote:").strip()
        for line in result.stderr.splitlines()
        if line.startswith("remote:") and line.removeprefix("remote:").strip()
    ]
    reason = _summary(result) or result.stderr.strip().splitlines()[-1:] or ["unknown reason"]
    detail = reason if isinstance(reason, str) else reason[0]
    said = f"; the remote said: {' | '.join(remote_lines[-3:])}" if remote_lines else ""
    after = " even after rebasing onto it" if rebased else ""
    return PushRejectedError(
        f"the remote rejected the push of {branch!r}{after}: {detail}{said}",
        branch=branch,
        hint="fetch, look at what changed on the remote branch (`git log HEAD..@{u}`), "
        "and push again; forcing is not done for you",
    )
