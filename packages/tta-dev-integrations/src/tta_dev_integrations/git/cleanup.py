"""Delete branches already merged into the base; prune stale remote refs and worktrees.

A branch is deleted only if it is merged into the base (``--merged``), is not
the current branch, the base, the default or a protected branch, and is not
checked out in another worktree. Remote branches are only touched under the
agent prefix (unless told otherwise), and each is deleted with a lease on the
commit we saw, so a branch someone pushed to meanwhile survives. A dry run reads
and reports, and changes nothing (not even a fetch).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tta_dev_integrations.git.errors import RepositoryStateError
from tta_dev_integrations.git.policy import GitPolicy
from tta_dev_integrations.git.repo import GitPrimitive, GitRepo
from tta_dev_integrations.git.state import ref_sha
from tta_dev_integrations.git.validation import validate_branch_name
from tta_dev_primitives import WorkflowContext

__all__ = ["CleanupReport", "CleanupRequest", "GitCleanupPrimitive"]


@dataclass(frozen=True, slots=True)
class CleanupRequest:
    """What to clean: ``base`` (default branch if unset), remote branches or not."""

    base: str | None = None
    dry_run: bool = False
    remote_branches: bool = True
    any_remote_prefix: bool = False
    repo: str | os.PathLike[str] | None = None


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """What went (or, in a dry run, would go)."""

    base: str
    dry_run: bool
    local_branches: tuple[str, ...] = ()
    remote_branches: tuple[str, ...] = ()
    pruned_remote_refs: tuple[str, ...] = ()
    pruned_worktrees: tuple[str, ...] = ()
    kept: dict[str, str] = field(default_factory=dict)
    repo: Path = Path()

    @property
    def empty(self) -> bool:
        """Whether nothing went (or would go)."""
        return not (
            self.local_branches
            or self.remote_branches
            or self.pruned_remote_refs
            or self.pruned_worktrees
        )


class GitCleanupPrimitive(GitPrimitive[CleanupRequest | bool | None, CleanupReport]):
    """Delete merged local and remote task branches, prune remote refs and worktrees.

    Input: a :class:`CleanupRequest`, or ``True``/``False`` for dry run or not.
    """

    name = "git.cleanup"

    async def _execute_impl(
        self, input_data: CleanupRequest | bool | None, context: WorkflowContext
    ) -> CleanupReport:
        request = (
            input_data
            if isinstance(input_data, CleanupRequest)
            else CleanupRequest(dry_run=bool(input_data))
        )
        repo = self._open(request.repo)
        runner, policy = repo.runner, repo.policy
        async with repo.locked() as state:
            if state.operation is not None:
                raise RepositoryStateError(
                    f"cannot clean up: a {state.operation} is in progress",
                    hint=state.operation_hint,
                )
            has_remote = await repo.has_remote()
            default = await repo.default_branch(has_remote=has_remote)
            base = await validate_branch_name(runner, request.base or default)
            remote = policy.remote
            pruned_refs = await _prune_remote(repo, dry_run=request.dry_run) if has_remote else []
            if has_remote and not request.dry_run:
                await runner.run("fetch", "--quiet", "--no-tags", "--end-of-options", remote)
            base_ref = await _base_ref(repo, base, has_remote=has_remote)
            pruned_worktrees = await _prune_worktrees(repo, dry_run=request.dry_run)
            selection = _Selection(
                policy=policy,
                base=base,
                default=default,
                checked_out={*await _checked_out(repo), *filter(None, [state.branch])},
                any_remote_prefix=request.any_remote_prefix,
            )
            local = selection.local(await _merged(repo, base_ref, "refs/heads/"))
            remote_gone: list[tuple[str, str]] = []
            if has_remote and request.remote_branches:
                merged = await _merged(repo, base_ref, f"refs/remotes/{remote}/")
                remote_gone = selection.remote(merged, remote)
            kept = selection.kept
            if not request.dry_run:
                await _delete_local(repo, local)
                if remote_gone:
                    await _delete_remote(repo, remote_gone)
        return CleanupReport(
            base=base,
            dry_run=request.dry_run,
            local_branches=tuple(branch for branch, _ in local),
            remote_branches=tuple(f"{remote}/{branch}" for branch, _ in remote_gone),
            pruned_remote_refs=tuple(pruned_refs),
            pruned_worktrees=tuple(pruned_worktrees),
            kept=kept,
            repo=state.root,
        )


@dataclass
class _Selection:
    """Which merged branches may go; ``kept`` says why the others stay."""

    policy: GitPolicy
    base: str
    default: str
    checked_out: set[str]
    any_remote_prefix: bool
    kept: dict[str, str] = field(default_factory=dict)

    def _protected(self, branch: str) -> bool:
        return branch == self.base or self.policy.is_protected(branch, self.default)

    def local(self, merged: list[tuple[str, str]]) -> list[tuple[str, str]]:
        chosen = []
        for branch, sha in merged:
            if branch in self.checked_out:
                self.kept[branch] = "checked out"
            elif self._protected(branch):
                self.kept[branch] = "base or protected"
            else:
                chosen.append((branch, sha))
        return chosen

    def remote(self, merged: list[tuple[str, str]], remote: str) -> list[tuple[str, str]]:
        chosen = []
        prefix = self.policy.prefix
        for branch, sha in merged:
            if branch == "HEAD":
                continue
            if self._protected(branch):
                self.kept[f"{remote}/{branch}"] = "base or protected"
            elif not self.any_remote_prefix and not branch.startswith(prefix):
                self.kept[f"{remote}/{branch}"] = f"not under {prefix!r}"
            else:
                chosen.append((branch, sha))
        return chosen


async def _base_ref(repo: GitRepo, base: str, *, has_remote: bool) -> str:
    refs = [f"refs/heads/{base}"]
    if has_remote:
        refs.insert(0, f"refs/remotes/{repo.policy.remote}/{base}")
    for ref in refs:
        if await ref_sha(repo.runner, ref) is not None:
            return ref
    raise RepositoryStateError(
        f"base branch {base!r} not found", hint="pass an existing base branch (`git branch -a`)"
    )


async def _merged(repo: GitRepo, base_ref: str, namespace: str) -> list[tuple[str, str]]:
    out = await repo.runner.text(
        "for-each-ref", f"--merged={base_ref}", "--format=%(objectname) %(refname)", namespace
    )
    merged = []
    for line in out.splitlines():
        sha, _, ref = line.partition(" ")
        if ref.startswith(namespace):
            merged.append((ref.removeprefix(namespace), sha))
    return merged


async def _checked_out(repo: GitRepo) -> set[str]:
    """Branches checked out in a worktree that still exists (prunable ones do not count)."""
    out = await repo.runner.text("worktree", "list", "--porcelain")
    branches: set[str] = set()
    for entry in out.split("\n\n"):
        lines = entry.splitlines()
        if any(line.startswith("prunable") for line in lines):
            continue
        branches.update(
            line.removeprefix("branch refs/heads/")
            for line in lines
            if line.startswith("branch refs/heads/")
        )
    return branches


async def _delete_local(repo: GitRepo, branches: list[tuple[str, str]]) -> None:
    """Delete each branch only if it still points where it did when found merged."""
    for branch, sha in branches:
        await repo.runner.run("update-ref", "-d", "--end-of-options", f"refs/heads/{branch}", sha)
        await repo.runner.run("config", "--remove-section", f"branch.{branch}", check=False)


async def _delete_remote(repo: GitRepo, branches: list[tuple[str, str]]) -> None:
    leases = [f"--force-with-lease=refs/heads/{branch}:{sha}" for branch, sha in branches]
    deletions = [f":refs/heads/{branch}" for branch, _ in branches]
    await repo.runner.run(
        "push", "--porcelain", *leases, "--end-of-options", repo.policy.remote,
        *deletions,
        hint="someone may have pushed to one of these branches since; run cleanup again",
    )  # fmt: skip


async def _prune_remote(repo: GitRepo, *, dry_run: bool) -> list[str]:
    flags = ["--dry-run"] if dry_run else []
    out = await repo.runner.text("remote", "prune", *flags, repo.policy.remote)
    return [
        line.split("]", 1)[1].strip()
        for line in out.splitlines()
        if line.strip().startswith("* [") and "]" in line
    ]


async def _prune_worktrees(repo: GitRepo, *, dry_run: bool) -> list[str]:
    flags = ["--dry-run"] if dry_run else []
    result = await repo.runner.run("worktree", "prune", "--verbose", *flags)
    lines = (result.stdout + result.stderr).splitlines()
    return [
        line.removeprefix("Removing ").split(":", 1)[0]
        for line in lines
        if line.startswith("Removing ")
    ]
