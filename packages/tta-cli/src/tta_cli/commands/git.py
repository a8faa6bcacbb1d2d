"""``tta git``: start a task branch, commit it safely, push it, clean up merged branches."""

from __future__ import annotations

from collections.abc import Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from tta_cli.errors import CLIError, cli_wording

if TYPE_CHECKING:
    from tta_dev_integrations.git import CleanupReport, GitPolicy

__all__ = ["register"]

T = TypeVar("T")

_REPO_HELP = "The repository (default: the current directory)."


def _run(work: Awaitable[T]) -> T:
    """Run ``work``; a git workflow error becomes one readable line (in CLI flags), exit 1."""
    import asyncio

    from tta_dev_integrations.git import GitError

    async def guarded() -> T:
        try:
            return await work
        except GitError as error:
            hint = cli_wording(error.hint) if error.hint else None
            raise CLIError(cli_wording(error.reason), hint=hint) from None

    return asyncio.run(guarded())


def _policy(prefix: str | None = None) -> GitPolicy:
    from tta_dev_integrations.git import GitPolicy

    return GitPolicy(prefix=prefix) if prefix is not None else GitPolicy()


def start(
    task: str = typer.Argument(..., help="What the task is; the branch is named after it."),
    prefix: str | None = typer.Option(None, "--prefix", help="Branch prefix (default agent/)."),
    base: str | None = typer.Option(None, "--base", help="Base branch (default: the default)."),
    repo: Path = typer.Option(Path(), "--repo", "-C", help=_REPO_HELP),
) -> None:
    """Start TASK on a new branch from the freshly fetched base."""
    from tta_dev_integrations.git import GitBranchPrimitive, StartBranch
    from tta_dev_primitives import WorkflowContext

    primitive = GitBranchPrimitive(repo, policy=_policy(prefix))
    branch = _run(primitive.execute(StartBranch(task, base=base, prefix=prefix), WorkflowContext()))
    typer.echo(f"on {branch.name} (from {branch.start_point} at {branch.base_sha[:12]})")


def commit(
    message: str | None = typer.Option(
        None, "--message", "-m", help="Use this message (default: written from the changes)."
    ),
    stage_all: bool = typer.Option(
        False, "--all", "-a", help="Stage every change even if something is staged already."
    ),
    task: str | None = typer.Option(None, "--task", help="The task, for the message's subject."),
    paths: list[str] = typer.Option([], "--path", help="Only stage under this path (repeat)."),
    allow_protected: bool = typer.Option(
        False, "--allow-protected", help="Allow a commit on the default or a protected branch."
    ),
    repo: Path = typer.Option(Path(), "--repo", "-C", help=_REPO_HELP),
) -> None:
    """Stage the task's changes (no secrets), scan them, and commit with a Conventional message."""
    from tta_dev_integrations.git import CommitRequest, GitCommitPrimitive
    from tta_dev_primitives import WorkflowContext

    request = CommitRequest(
        message=message,
        task=task,
        paths=tuple(paths) or None,
        stage_all=stage_all,
        allow_protected=allow_protected,
    )
    result = _run(GitCommitPrimitive(repo).execute(request, WorkflowContext()))
    typer.echo(f"[{result.branch} {result.sha[:12]}] {result.message.splitlines()[0]}")
    typer.echo(f"{len(result.files)} file(s) committed")
    for path in result.skipped:
        typer.echo(f"left out (secret-looking): {path}", err=True)


def push(
    force_with_lease: bool = typer.Option(
        False,
        "--force-with-lease",
        help="Replace the remote branch if it is still where we last saw it (never protected).",
    ),
    branch: str | None = typer.Option(None, "--branch", help="Branch (default: the current)."),
    repo: Path = typer.Option(Path(), "--repo", "-C", help=_REPO_HELP),
) -> None:
    """Push the task branch to its own name and set upstream; rebase once if it moved on."""
    from tta_dev_integrations.git import GitPushPrimitive, PushRequest
    from tta_dev_primitives import WorkflowContext

    request = PushRequest(branch=branch, force_with_lease=force_with_lease)
    result = _run(GitPushPrimitive(repo).execute(request, WorkflowContext()))
    rebased = ", rebased onto the remote first" if result.rebased else ""
    typer.echo(f"pushed {result.branch} -> {result.upstream} {result.summary}{rebased}")


def cleanup(
    dry_run: bool = typer.Option(
        False, "--dry-run", "-n", help="Show what would go; change nothing."
    ),
    base: str | None = typer.Option(None, "--base", help="Merged into this (default: default)."),
    all_remote: bool = typer.Option(
        False, "--all-remote", help="Also delete merged remote branches outside the agent prefix."
    ),
    local_only: bool = typer.Option(False, "--local-only", help="Leave remote branches alone."),
    repo: Path = typer.Option(Path(), "--repo", "-C", help=_REPO_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Delete branches merged into the base; prune stale remote refs and worktrees."""
    from tta_dev_integrations.git import CleanupRequest, GitCleanupPrimitive
    from tta_dev_primitives import WorkflowContext

    request = CleanupRequest(
        base=base,
        dry_run=dry_run,
        remote_branches=not local_only,
        any_remote_prefix=all_remote,
    )
    report = _run(GitCleanupPrimitive(repo).execute(request, WorkflowContext()))
    if as_json:
        import dataclasses
        import json

        fields = dataclasses.asdict(report)
        typer.echo(json.dumps({**fields, "repo": str(report.repo)}, indent=2))
        return
    _print_cleanup(report)


def _print_cleanup(report: CleanupReport) -> None:
    from rich.table import Table

    from tta_cli.render.common import console as make_console

    console = make_console()
    verb = "would delete" if report.dry_run else "deleted"
    if report.empty:
        console.print(f"nothing to clean up (base {report.base})")
        return
    table = Table(title=f"{verb} (merged into {report.base})")
    table.add_column("what")
    table.add_column("name")
    rows = [
        *(("local branch", name) for name in report.local_branches),
        *(("remote branch", name) for name in report.remote_branches),
        *(("stale remote ref", name) for name in report.pruned_remote_refs),
        *(("worktree", name) for name in report.pruned_worktrees),
    ]
    for what, name in rows:
        table.add_row(what, name)
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the ``git`` group: ``start``, ``commit``, ``push``, ``cleanup``."""
    group = typer.Typer(
        name="git",
        help="Branch, commit, push and clean up like a careful engineer (for agents).",
        no_args_is_help=True,
    )
    group.command(name="start")(start)
    group.command(name="commit")(commit)
    group.command(name="push")(push)
    group.command(name="cleanup")(cleanup)
    app.add_typer(group, name="git")
