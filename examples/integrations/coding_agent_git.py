"""A coding agent's git round trip: branch, work, commit, push; and what it may not do.

In a temporary folder the example makes a bare "remote" with one commit on `main` and
the agent's clone of it, with a git config of its own (no global or system config, a
local user.name and user.email), so it behaves the same on any machine. Then:

1. The agent's task runs as one workflow,
   `GitBranchPrimitive >> write the code >> GitCommitPrimitive >> GitPushPrimitive`:
   a branch `agent/<task>`, a Conventional Commits message written from the change,
   the branch pushed with its upstream set. The remote's refs are printed.
2. A maintainer merges that branch into `main` on the remote.
3. The next task plants an AWS key id in a file: the commit's secret scan refuses it,
   so nothing is committed or pushed. A push to `main` is refused too.
4. A cleanup dry run lists the merged task branch it would delete, here and on the
   remote, and deletes nothing.

Run it with `python examples/integrations/coding_agent_git.py [--keep]` (about 2 s; needs
`git`); `--keep` leaves the folder in place and prints where.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from tta_dev_integrations.git import (
    CleanupRequest,
    GitBranchPrimitive,
    GitCleanupPrimitive,
    GitCommitPrimitive,
    GitError,
    GitPushPrimitive,
    PushRequest,
    PushResult,
    StartBranch,
    TaskBranch,
)
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive

TASK = "Add a word count helper"
LEAKY_TASK = "Load the storage settings"
AWS_KEY_ID = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example; split so this file has none
WORD_COUNT = '''def word_count(text: str) -> int:
    """How many words ``text`` holds."""
    return len(text.split())
'''


def git(cwd: Path, *args: str) -> str:
    """Plain git for setting the scene and looking at the result (not the agent's git)."""
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def set_up(root: Path) -> tuple[Path, Path]:
    """An isolated git config, a bare remote with one commit on main, the agent's clone."""
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("")
    os.environ.update(HOME=str(home), GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
                      GIT_CONFIG_NOSYSTEM="1")  # fmt: skip
    for who in ("AUTHOR", "COMMITTER"):
        for what in ("NAME", "EMAIL", "DATE"):
            os.environ.pop(f"GIT_{who}_{what}", None)
    remote, seed, work = root / "remote.git", root / "seed", root / "work"
    git(root, "init", "-q", "--bare", "-b", "main", str(remote))
    git(root, "init", "-q", "-b", "main", str(seed))
    (seed / "src").mkdir()
    (seed / "src" / "app.py").write_text("def main() -> None:\n    print('hello')\n")
    (seed / "README.md").write_text("# a project\n")
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=Maintainer", "-c", "user.email=m@example.invalid",
        "commit", "-q", "-m", "chore: initial commit")  # fmt: skip
    git(seed, "push", "-q", str(remote), "main")
    git(root, "clone", "-q", str(remote), str(work))
    git(work, "config", "user.name", "Example Agent")
    git(work, "config", "user.email", "agent@example.invalid")
    return remote, work


def show_refs(remote: Path) -> dict[str, str]:
    """Print and return the remote's branches: name -> commit."""
    out = git(remote, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads")
    refs = dict(line.split(" ", 1) for line in out.splitlines())
    for name, sha in refs.items():
        print(f"    {name:<45} {sha[:10]}")
    return refs


async def write_word_count(task: TaskBranch) -> TaskBranch:
    (task.repo / "src" / "words.py").write_text(WORD_COUNT)
    return task


async def write_settings_with_a_key(task: TaskBranch) -> TaskBranch:
    settings = f'BUCKET = "reports"\nAWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"\n'
    (task.repo / "src" / "settings.py").write_text(settings)
    return task


def agent(
    work: Path, write_code: Callable[[TaskBranch], Awaitable[TaskBranch]]
) -> WorkflowPrimitive[StartBranch | str, PushResult]:
    """One task: branch, write the code, commit, push."""
    return GitBranchPrimitive(work) >> write_code >> GitCommitPrimitive() >> GitPushPrimitive()


async def main(root: Path) -> int:
    remote, work = set_up(root)
    ctx = WorkflowContext(workflow_id="coding-agent-git")

    print(f"1. task {TASK!r}")
    task_one = agent(work, write_word_count)
    pushed = await task_one.execute(StartBranch(TASK), ctx)
    print(f"  branch {pushed.branch}, upstream {pushed.upstream}, commit {pushed.sha[:10]}")
    message = git(remote, "log", "-1", "--format=%B", f"refs/heads/{pushed.branch}")
    print("  the commit message, as the remote has it:")
    print("\n".join(f"    | {line}" for line in message.splitlines()))
    print("  the remote's branches:")
    show_refs(remote)

    print(f"2. the maintainer merges {pushed.branch} into main")
    git(remote, "update-ref", "refs/heads/main", pushed.sha)  # a fast-forward merge
    before = git(remote, "for-each-ref", "refs/heads")

    print(f"3. task {LEAKY_TASK!r} plants an AWS key id in src/settings.py")
    task_two = agent(work, write_settings_with_a_key)
    try:
        await task_two.execute(StartBranch(LEAKY_TASK), ctx)
    except GitError as error:
        print(f"  refused ({type(error).__name__}): {error.reason}")
    else:
        print("  NOT refused: the key was committed and pushed")
    branch = git(work, "branch", "--show-current")
    on_main = git(work, "rev-parse", "HEAD") == pushed.sha
    print(f"  {branch} is still at the merged main: {on_main}; src/settings.py is uncommitted")
    try:
        await GitPushPrimitive(work).execute(PushRequest(branch="main"), ctx)
    except GitError as error:
        print(f"  a push to main: refused ({type(error).__name__}): {error.reason}")
    else:
        print("  a push to main: NOT refused")
    unchanged = git(remote, "for-each-ref", "refs/heads") == before
    print(f"  the remote's branches are unchanged: {unchanged}")

    print("4. cleanup, dry run")
    report = await GitCleanupPrimitive(work).execute(CleanupRequest(dry_run=True), ctx)
    print(f"  would delete here: {', '.join(report.local_branches) or 'nothing'}")
    print(f"  would delete on the remote: {', '.join(report.remote_branches) or 'nothing'}")
    for name, why in sorted(report.kept.items()):
        print(f"  keeps {name}: {why}")
    print("  the remote's branches after the dry run:")
    show_refs(remote)
    return 0


if __name__ == "__main__":
    keep = "--keep" in sys.argv[1:]
    folder = Path(tempfile.mkdtemp(prefix="tta-agent-git-"))
    try:
        status = asyncio.run(main(folder))
    finally:
        if keep:
            print(f"kept: {folder} (remote.git, work)")
        else:
            shutil.rmtree(folder)
    raise SystemExit(status)
