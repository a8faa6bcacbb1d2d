"""Which changes a task commit takes: everything git does not ignore, minus secret files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tta_dev_integrations.git.errors import SecretFileError
from tta_dev_integrations.git.policy import GitPolicy
from tta_dev_integrations.git.runner import GitRunner

__all__ = [
    "Change",
    "StagedFile",
    "Staging",
    "read_changes",
    "stage_task_changes",
    "staged_files",
    "unstage",
]


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of ``git status``: ``index`` and ``worktree`` are its two status letters."""

    path: str
    index: str
    worktree: str

    @property
    def staged(self) -> bool:
        """Whether the index holds a change to this path."""
        return self.index not in " ?!"

    @property
    def unstaged(self) -> bool:
        """Whether the work tree holds a change (or a new file) not in the index."""
        return self.worktree not in " !"


@dataclass(frozen=True, slots=True)
class StagedFile:
    """A file in the index that differs from HEAD, with its line counts."""

    status: str
    path: str
    added: int
    deleted: int
    binary: bool = False


@dataclass(frozen=True, slots=True)
class Staging:
    """What staging did: the files now staged, and secret-looking files left out."""

    files: tuple[StagedFile, ...]
    skipped: tuple[str, ...]


async def read_changes(runner: GitRunner) -> list[Change]:
    """Every changed, deleted or untracked (not ignored) path, from the work tree's root."""
    out = await runner.text(
        "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"
    )
    return [
        Change(path=entry[3:], index=entry[0], worktree=entry[1])
        for entry in out.split("\0")
        if len(entry) > 3
    ]


def _selected(path: str, wanted: Sequence[str]) -> bool:
    return any(path == want or path.startswith(f"{want}/") for want in wanted)


def _normalise(paths: Sequence[str]) -> list[str] | None:
    cleaned = [p.removeprefix("./").strip("/") for p in paths]
    return None if any(c in ("", ".") for c in cleaned) else cleaned


async def stage_task_changes(
    runner: GitRunner,
    policy: GitPolicy,
    *,
    paths: Sequence[str] | None = None,
    stage_all: bool = False,
) -> Staging:
    """Stage the task's changes and return what is staged.

    If something is staged already and neither ``paths`` nor ``stage_all`` is
    given, that staging is respected as the caller's choice. Otherwise every
    changed or new file (under ``paths``, when given) is staged, except
    secret-looking files, which are reported as skipped. A secret-looking file
    staged by someone else raises :class:`SecretFileError` (deleting one is fine).
    """
    changes = await read_changes(runner)
    planted = [
        c.path for c in changes if c.staged and c.index != "D" and policy.is_secret_file(c.path)
    ]
    if planted:
        raise SecretFileError(planted)
    skipped: list[str] = []
    if stage_all or paths is not None or not any(c.staged for c in changes):
        wanted = _normalise(paths) if paths is not None else None
        to_add: list[str] = []
        for change in changes:
            if not change.unstaged or (wanted is not None and not _selected(change.path, wanted)):
                continue
            if policy.is_secret_file(change.path) and change.worktree != "D":
                skipped.append(change.path)
            else:
                to_add.append(change.path)
        if to_add:
            await runner.run(
                "--literal-pathspecs", "add", "--all", "--pathspec-from-file=-",
                "--pathspec-file-nul",
                stdin="\0".join(to_add),
            )  # fmt: skip
    return Staging(files=tuple(await staged_files(runner)), skipped=tuple(skipped))


async def unstage(runner: GitRunner, paths: Sequence[str]) -> None:
    """Take ``paths`` out of the index, back to HEAD's version; the work tree is untouched.

    A file new since HEAD becomes untracked again.
    """
    if paths:
        await runner.run(
            "--literal-pathspecs", "restore", "--staged", "--pathspec-from-file=-",
            "--pathspec-file-nul",
            stdin="\0".join(paths),
        )  # fmt: skip


async def staged_files(runner: GitRunner) -> list[StagedFile]:
    """The files in the index that differ from HEAD (or all of them before a first commit)."""
    statuses = await runner.text("diff", "--cached", "--name-status", "-z", "--no-renames")
    fields = [f for f in statuses.split("\0") if f]
    status_of = {fields[i + 1]: fields[i] for i in range(0, len(fields) - 1, 2)}
    numstat = await runner.text("diff", "--cached", "--numstat", "-z", "--no-renames")
    files = []
    for record in numstat.split("\0"):
        added, _, rest = record.partition("\t")
        deleted, _, path = rest.partition("\t")
        if not path:
            continue
        binary = added == "-"
        files.append(
            StagedFile(
                status=status_of.get(path, "M")[:1],
                path=path,
                added=0 if binary else int(added),
                deleted=0 if binary else int(deleted),
                binary=binary,
            )
        )
    return files
