"""Push coordination against bare remotes: upstream, one rebase on rejection, leases, locks."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest

from git_repos import Clone, git, isolated_git, make_clone, remote_refs, second_clone
from tta_dev_integrations.git import (
    GitCommitPrimitive,
    GitPushPrimitive,
    PushRejectedError,
    PushRequest,
    RebaseConflictError,
    RepositoryStateError,
)
from tta_dev_primitives import WorkflowContext

pytestmark = pytest.mark.usefixtures("isolated_git")
_ = isolated_git


def with_task_commit(clone: Clone, branch: str = "agent/task", text: str = "mine\n") -> str:
    clone.git("switch", "-q", "-c", branch)
    clone.write("src/mine.py", text)
    return clone.commit_all("feat: mine")


async def test_push_creates_the_branch_and_sets_upstream(tmp_path: Path) -> None:
    clone = make_clone(tmp_path, hook=True)
    sha = with_task_commit(clone)
    result = await GitPushPrimitive(clone.work).execute(None, WorkflowContext())
    assert remote_refs(clone.remote)["refs/heads/agent/task"] == sha
    assert result.sha == sha
    assert result.summary == "[new branch]"
    assert result.upstream == "origin/agent/task"
    assert not result.rebased
    assert clone.git("rev-parse", "--abbrev-ref", "@{u}") == "origin/agent/task"
    again = await GitPushPrimitive(clone.work).execute("agent/task", WorkflowContext())
    assert again.summary == "[up to date]"


async def test_non_fast_forward_is_rebased_once_and_pushed(tmp_path: Path) -> None:
    clone = make_clone(tmp_path, hook=True)
    with_task_commit(clone)
    clone.git("push", "-q", "-u", "origin", "agent/task")
    other = second_clone(clone, tmp_path)
    other.git("switch", "-q", "agent/task")
    other.write("src/theirs.py", "theirs\n")
    theirs = other.commit_all("feat: theirs")
    other.git("push", "-q", "origin", "agent/task")
    clone.write("src/mine.py", "mine, more\n")
    clone.commit_all("feat: more of mine")

    result = await GitPushPrimitive(clone.work).execute(None, WorkflowContext())
    assert result.rebased
    remote_head = remote_refs(clone.remote)["refs/heads/agent/task"]
    assert remote_head == clone.head() == result.sha
    assert clone.git("rev-parse", "HEAD~1") == theirs
    assert (clone.work / "src/theirs.py").exists()


async def test_conflict_aborts_the_rebase_and_changes_nothing(tmp_path: Path) -> None:
    clone = make_clone(tmp_path, hook=True)
    with_task_commit(clone)
    clone.git("push", "-q", "-u", "origin", "agent/task")
    other = second_clone(clone, tmp_path)
    other.git("switch", "-q", "agent/task")
    other.write("src/mine.py", "theirs\n")
    other.commit_all("theirs")
    other.git("push", "-q", "origin", "agent/task")
    clone.write("src/mine.py", "ours\n")
    ours = clone.commit_all("ours")
    remote_before = remote_refs(clone.remote)

    with pytest.raises(RebaseConflictError) as caught:
        await GitPushPrimitive(clone.work).execute(None, WorkflowContext())
    assert caught.value.files == ("src/mine.py",)
    assert "git pull --rebase" in str(caught.value)
    assert remote_refs(clone.remote) == remote_before
    assert clone.head() == ours
    assert clone.branch() == "agent/task"
    assert not (clone.work / ".git" / "rebase-merge").exists()
    assert clone.git("status", "--porcelain") == ""


async def test_force_with_lease_only_when_asked_and_only_if_the_lease_holds(
    tmp_path: Path,
) -> None:
    clone = make_clone(tmp_path)
    with_task_commit(clone)
    clone.git("push", "-q", "-u", "origin", "agent/task")
    pushed = clone.head()
    clone.write("src/mine.py", "rewritten\n")
    clone.git("commit", "-q", "-a", "--amend", "-m", "rewritten")
    rewritten = clone.head()

    with pytest.raises(PushRejectedError, match="stale info"):
        await GitPushPrimitive(clone.work).execute(
            PushRequest(force_with_lease=True, expected="0" * 40), WorkflowContext()
        )
    assert remote_refs(clone.remote)["refs/heads/agent/task"] == pushed

    result = await GitPushPrimitive(clone.work).execute(
        PushRequest(force_with_lease=True), WorkflowContext()
    )
    assert result.summary.endswith("(forced update)")
    assert remote_refs(clone.remote)["refs/heads/agent/task"] == rewritten


async def test_the_hook_remote_refuses_even_a_leased_force(tmp_path: Path) -> None:
    clone = make_clone(tmp_path, hook=True)
    with_task_commit(clone)
    clone.git("push", "-q", "-u", "origin", "agent/task")
    before = remote_refs(clone.remote)
    clone.write("src/mine.py", "rewritten\n")
    clone.git("commit", "-q", "-a", "--amend", "-m", "rewritten")
    with pytest.raises(PushRejectedError) as caught:
        await GitPushPrimitive(clone.work).execute(
            PushRequest(force_with_lease=True), WorkflowContext()
        )
    assert "non-fast-forward" in str(caught.value)
    assert remote_refs(clone.remote) == before


async def test_push_a_named_branch_that_is_not_checked_out(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    sha = with_task_commit(clone, "agent/side")
    clone.git("switch", "-q", "main")
    result = await GitPushPrimitive(clone.work).execute("agent/side", WorkflowContext())
    assert result.sha == sha == remote_refs(clone.remote)["refs/heads/agent/side"]


async def test_missing_remote_and_missing_branch(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    with_task_commit(clone)
    with pytest.raises(RepositoryStateError, match="no such local branch"):
        await GitPushPrimitive(clone.work).execute("agent/none", WorkflowContext())
    clone.git("remote", "remove", "origin")
    with pytest.raises(RepositoryStateError, match="git remote add origin"):
        await GitPushPrimitive(clone.work).execute(None, WorkflowContext())


async def test_concurrent_agents_in_worktrees_of_one_clone(tmp_path: Path) -> None:
    clone = make_clone(tmp_path, hook=True)
    trees = []
    for i in range(3):
        tree = tmp_path / f"wt{i}"
        clone.git("worktree", "add", "-q", "-b", f"agent/w{i}", str(tree), "main")
        (tree / f"w{i}.txt").write_text(f"{i}\n")
        trees.append(tree)

    async def agent(tree: Path) -> str:
        result = await GitCommitPrimitive(tree).execute(None, WorkflowContext())
        pushed = await GitPushPrimitive().execute(result, WorkflowContext())
        return pushed.sha

    shas = await asyncio.gather(*(agent(tree) for tree in trees))
    refs = remote_refs(clone.remote)
    assert [refs[f"refs/heads/agent/w{i}"] for i in range(3)] == shas
    assert git(clone.work, "fsck", "--no-progress") == ""


AGENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from tta_dev_integrations.git import CommitRequest, GitCommitPrimitive, GitPushPrimitive
    from tta_dev_primitives import WorkflowContext

    async def main(repo: str, name: str, rounds: int) -> None:
        for i in range(rounds):
            path = f"{name}/{i}.txt"
            target = Path(repo) / path
            target.parent.mkdir(exist_ok=True)
            target.write_text(f"{name} {i}\\n")
            request = CommitRequest(paths=(path,), task=f"{name} round {i}")
            commit = await GitCommitPrimitive(repo).execute(request, WorkflowContext())
            await GitPushPrimitive(repo).execute(commit, WorkflowContext())

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_two_processes_commit_and_push_in_one_clone(tmp_path: Path) -> None:
    clone = make_clone(tmp_path, hook=True)
    clone.git("switch", "-q", "-c", "agent/shared")
    rounds = 4
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", AGENT_SCRIPT, str(clone.work), name, str(rounds)
        )
        for name in ("alpha", "beta")
    ]
    codes = await asyncio.gather(*(process.wait() for process in processes))
    assert codes == [0, 0]
    head = remote_refs(clone.remote)["refs/heads/agent/shared"]
    assert head == clone.head()
    log = clone.git("log", "--format=%H", "main..agent/shared").splitlines()
    assert len(log) == 2 * rounds
    for sha in log:
        files = clone.git("diff-tree", "--no-commit-id", "--name-only", "-r", sha).splitlines()
        assert len(files) == 1, f"a commit mixed two agents' files: {files}"
    assert clone.git("status", "--porcelain") == ""
    assert clone.git("fsck", "--no-progress") == ""
