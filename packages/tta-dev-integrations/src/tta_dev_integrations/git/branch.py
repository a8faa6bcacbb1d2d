"""Start a task on its own branch, ``agent/<slug>``, from an up-to-date base."""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tta_dev_integrations.git.errors import GitCommandError, RepositoryStateError
from tta_dev_integrations.git.repo import GitPrimitive, GitRepo
from tta_dev_integrations.git.state import ensure_workable, ref_sha
from tta_dev_integrations.git.validation import check_branch_syntax, validate_branch_name
from tta_dev_primitives import WorkflowContext

__all__ = ["GitBranchPrimitive", "StartBranch", "TaskBranch", "slugify"]

_NON_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_SUFFIX = 100


@dataclass(frozen=True, slots=True)
class StartBranch:
    """A request to start ``task`` on a new branch (``base``: default branch if unset)."""

    task: str
    base: str | None = None
    prefix: str | None = None
    repo: str | os.PathLike[str] | None = None


@dataclass(frozen=True, slots=True)
class TaskBranch:
    """The branch a task works on, where it started, and in which clone."""

    name: str
    base: str
    start_point: str
    base_sha: str
    repo: Path
    task: str
    fetched: bool


def slugify(task: str, max_length: int = 48) -> str:
    """A branch-safe slug: lower-case ASCII words joined by ``-``, at most ``max_length``.

    Cut at a word boundary when one is near; ``"task"`` when nothing is left.
    """
    ascii_text = unicodedata.normalize("NFKD", task).encode("ascii", "ignore").decode()
    slug = _NON_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[:max_length]
        boundary = cut.rfind("-")
        slug = cut[:boundary] if boundary >= max_length // 2 else cut
    return slug.strip("-") or "task"


class GitBranchPrimitive(GitPrimitive[StartBranch | str, TaskBranch]):
    """Create and switch to ``<prefix><slug-of-task>`` from the fetched base branch.

    Refuses a detached HEAD, a merge, rebase, cherry-pick or revert in progress, and
    unresolved conflicts. Uncommitted changes come along to the new branch.
    """

    name = "git.branch"

    async def _execute_impl(
        self, input_data: StartBranch | str, context: WorkflowContext
    ) -> TaskBranch:
        request = StartBranch(input_data) if isinstance(input_data, str) else input_data
        repo = self._open(request.repo)
        runner, policy = repo.runner, repo.policy
        async with repo.locked() as state:
            ensure_workable(state, "start a task branch")
            has_remote = await repo.has_remote()
            base = request.base or await repo.default_branch(has_remote=has_remote)
            await validate_branch_name(runner, base)
            fetched = has_remote and await _fetch_base(repo, base)
            start_point = await _start_point(repo, base, prefer_remote=has_remote)
            base_sha = await ref_sha(runner, start_point)
            if base_sha is None:  # pragma: no cover - _start_point checked it exists
                raise RepositoryStateError(f"base {base!r} vanished")
            prefix = policy.prefix if request.prefix is None else request.prefix
            check_branch_syntax(prefix + "x")
            slug = slugify(request.task, policy.max_slug_length)
            name = await _unique_name(repo, prefix, slug, has_remote=has_remote)
            await runner.run(
                "switch", "--no-guess", "--no-track", "--create", name,
                "--end-of-options", start_point,
                hint="commit or stash the local changes that conflict with the base, "
                "then start again",
            )  # fmt: skip
        return TaskBranch(
            name=name,
            base=base,
            start_point=start_point,
            base_sha=base_sha,
            repo=state.root,
            task=request.task,
            fetched=fetched,
        )


async def _fetch_base(repo: GitRepo, base: str) -> bool:
    """Fetch ``base`` into its remote-tracking ref; ``False`` if the remote lacks it."""
    remote = repo.policy.remote
    result = await repo.runner.run(
        "fetch", "--quiet", "--no-tags", "--end-of-options", remote,
        f"+refs/heads/{base}:refs/remotes/{remote}/{base}",
        check=False,
    )  # fmt: skip
    if result.ok:
        return True
    if "couldn't find remote ref" in result.stderr:
        return False
    raise GitCommandError(
        ["fetch", remote, base],
        result.returncode,
        result.stderr,
        hint=f"check that remote {remote!r} is reachable (`git fetch {remote}`)",
    )


async def _start_point(repo: GitRepo, base: str, *, prefer_remote: bool) -> str:
    refs = [f"refs/heads/{base}"]
    if prefer_remote:
        refs.insert(0, f"refs/remotes/{repo.policy.remote}/{base}")
    for ref in refs:
        if await ref_sha(repo.runner, ref) is not None:
            return ref
    raise RepositoryStateError(
        f"base branch {base!r} exists neither locally nor on {repo.policy.remote!r}",
        hint="pass an existing base (`git branch -a` lists them)",
    )


async def _unique_name(repo: GitRepo, prefix: str, slug: str, *, has_remote: bool) -> str:
    """``prefix+slug``, suffixed ``-2``, ``-3``... past local, tracked and remote branches."""
    remote = repo.policy.remote
    stem = f"{prefix}{slug}"
    on_remote: set[str] = set()
    if has_remote:
        listed = await repo.runner.text(
            "ls-remote", "--heads", "--end-of-options", remote,
            f"refs/heads/{stem}", f"refs/heads/{stem}-*",
        )  # fmt: skip
        on_remote = {
            line.split("\t", 1)[1].removeprefix("refs/heads/")
            for line in listed.splitlines()
            if "\t" in line
        }
    for attempt in range(1, _MAX_SUFFIX + 1):
        name = stem if attempt == 1 else f"{stem}-{attempt}"
        await validate_branch_name(repo.runner, name)
        if name in on_remote:
            continue
        taken = [
            await ref_sha(repo.runner, ref)
            for ref in (f"refs/heads/{name}", f"refs/remotes/{remote}/{name}")
        ]
        if not any(taken):
            return name
    raise RepositoryStateError(
        f"{_MAX_SUFFIX} branches named {stem}[-N] exist already",
        hint="clean up merged branches with `tta git cleanup` or describe the task differently",
    )
