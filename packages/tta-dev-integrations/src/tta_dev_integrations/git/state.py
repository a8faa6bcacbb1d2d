"""Where a repository stands: branch, operation in progress, conflicts, default branch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tta_dev_integrations.git.errors import GitCommandError, RepositoryStateError
from tta_dev_integrations.git.policy import GitPolicy
from tta_dev_integrations.git.runner import GitRunner
from tta_dev_integrations.git.validation import validate_remote_name, validate_remote_url

__all__ = [
    "RepoState",
    "checked_remote",
    "default_branch",
    "ensure_workable",
    "read_state",
    "ref_sha",
]

# Marker files in the (per-worktree) git dir, in the order they are reported, with
# the operation's name and how to get out of it.
_OPERATIONS = (
    ("rebase-merge", "rebase", "finish it with `git rebase --continue` or get out with "
     "`git rebase --abort`"),
    ("rebase-apply/applying", "am", "finish it with `git am --continue` or get out with "
     "`git am --abort`"),
    ("rebase-apply", "rebase", "finish it with `git rebase --continue` or get out with "
     "`git rebase --abort`"),
    ("MERGE_HEAD", "merge", "resolve and `git commit`, or get out with `git merge --abort`"),
    ("CHERRY_PICK_HEAD", "cherry-pick", "finish it with `git cherry-pick --continue` or "
     "get out with `git cherry-pick --abort`"),
    ("REVERT_HEAD", "revert", "finish it with `git revert --continue` or get out with "
     "`git revert --abort`"),
    ("BISECT_LOG", "bisect", "end it with `git bisect reset`"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RepoState:
    """A snapshot of the repository's HEAD and work in progress."""

    root: Path
    git_dir: Path
    common_dir: Path
    branch: str | None
    head: str | None
    operation: str | None
    operation_hint: str | None
    conflicts: tuple[str, ...]

    @property
    def detached(self) -> bool:
        """Whether HEAD points at a commit rather than a branch."""
        return self.branch is None


async def read_state(runner: GitRunner) -> RepoState:
    """Read the state of ``runner``'s repository (raises if it is not a work tree)."""
    try:
        paths = await runner.text(
            "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-dir",
            "--git-common-dir",
        )  # fmt: skip
    except GitCommandError as error:
        raise RepositoryStateError(
            f"{runner.repo} is not inside a git work tree",
            hint="run in a clone (`git clone <url>`) or pass repo= pointing into one",
        ) from error
    root, git_dir, common_dir = (Path(line) for line in paths.splitlines()[:3])
    symbolic = await runner.run("symbolic-ref", "-q", "HEAD", check=False)
    branch = symbolic.stdout.strip().removeprefix("refs/heads/") if symbolic.ok else None
    head = await ref_sha(runner, "HEAD")
    operation, hint = None, None
    for marker, name, how in _OPERATIONS:
        if (git_dir / marker).exists():
            operation, hint = name, how
            break
    unmerged = await runner.text("diff", "--name-only", "-z", "--diff-filter=U")
    conflicts = tuple(dict.fromkeys(path for path in unmerged.split("\0") if path))
    return RepoState(root, git_dir, common_dir, branch, head, operation, hint, conflicts)


def ensure_workable(state: RepoState, action: str) -> None:
    """Refuse ``action`` mid-operation, with conflicts, on a detached HEAD or no commit."""
    if state.operation is not None:
        raise RepositoryStateError(
            f"cannot {action}: a {state.operation} is in progress", hint=state.operation_hint
        )
    if state.conflicts:
        raise RepositoryStateError(
            f"cannot {action}: unresolved conflicts in {', '.join(state.conflicts)}",
            hint="resolve them and `git add` the files, or abort the merge (`git merge --abort`)",
        )
    if state.head is None:
        raise RepositoryStateError(
            f"cannot {action}: the repository has no commit yet",
            hint="make a first commit on the default branch",
        )
    if state.detached:
        raise RepositoryStateError(
            f"cannot {action}: HEAD is detached at {state.head[:12]}",
            hint="switch to a branch with `git switch <branch>` (keep this commit with "
            "`git switch -c <new-branch>`)",
        )


async def ref_sha(runner: GitRunner, ref: str) -> str | None:
    """The commit id ``ref`` points at, or ``None`` if it does not exist."""
    result = await runner.run(
        "rev-parse", "-q", "--verify", "--end-of-options", f"{ref}^{{commit}}", check=False
    )
    return result.stdout.strip() if result.ok and result.stdout.strip() else None


async def checked_remote(runner: GitRunner, remote: str) -> bool:
    """Whether ``remote`` is configured; each of its fetch and push URLs is validated."""
    validate_remote_name(remote)
    names = (await runner.text("remote")).splitlines()
    if remote not in names:
        return False
    for push in (False, True):
        flags = ("--push", "--all") if push else ("--all",)
        urls = await runner.text("remote", "get-url", *flags, remote)
        for url in urls.splitlines():
            validate_remote_url(url)
    return True


async def default_branch(runner: GitRunner, policy: GitPolicy, *, has_remote: bool) -> str:
    """The default branch: the policy's, the remote's HEAD, ``init.defaultBranch``, main."""
    if policy.default_branch:
        return policy.default_branch
    remote_prefix = f"refs/remotes/{policy.remote}/"
    if has_remote:
        head = await runner.run("symbolic-ref", "-q", f"{remote_prefix}HEAD", check=False)
        target = head.stdout.strip()
        if head.ok and target.startswith(remote_prefix):
            return target.removeprefix(remote_prefix)
    configured = await runner.run("config", "--get", "init.defaultBranch", check=False)
    candidates = [configured.stdout.strip()] if configured.ok else []
    for name in (*candidates, "main", "master"):
        for ref in (f"refs/heads/{name}", f"{remote_prefix}{name}"):
            if name and await ref_sha(runner, ref) is not None:
                return name
    raise RepositoryStateError(
        "cannot tell the default branch",
        hint=f"pass GitPolicy(default_branch=...) or run `git remote set-head "
        f"{policy.remote} --auto`",
    )
