"""Starting a task branch: naming, uniqueness, an up-to-date base, refusals with a way out."""

from __future__ import annotations

from pathlib import Path

import pytest

from git_repos import git, identify, isolated_git, make_clone, second_clone
from tta_dev_integrations.git import (
    GitBranchPrimitive,
    GitPolicy,
    RepositoryStateError,
    StartBranch,
)
from tta_dev_primitives import WorkflowContext

pytestmark = pytest.mark.usefixtures("isolated_git")
_ = isolated_git


async def test_start_creates_a_prefixed_branch_from_the_base(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    task = await GitBranchPrimitive(clone.work).execute("Add the CSV export", WorkflowContext())
    assert task.name == "agent/add-the-csv-export"
    assert clone.branch() == "agent/add-the-csv-export"
    assert task.base == "main"
    assert task.start_point == "refs/remotes/origin/main"
    assert task.base_sha == clone.git("rev-parse", "origin/main") == clone.head()
    assert task.repo == clone.work.resolve()
    assert task.fetched
    assert clone.git("config", "--get", "branch.agent/add-the-csv-export.merge", check=False) == ""


async def test_start_branches_from_the_fetched_remote_base(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    other = second_clone(clone, tmp_path)
    other.write("src/other.py", "x = 1\n")
    newer = other.commit_all("someone else's work")
    other.git("push", "-q", "origin", "main")
    assert clone.git("rev-parse", "origin/main") != newer

    task = await GitBranchPrimitive(clone.work).execute("task", WorkflowContext())
    assert task.base_sha == newer
    assert clone.head() == newer


async def test_names_are_unique_against_local_and_remote_branches(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    clone.git("branch", "agent/task")
    other = second_clone(clone, tmp_path)
    other.git("push", "-q", "origin", "main:agent/task-2")
    primitive = GitBranchPrimitive(clone.work)
    first = await primitive.execute("Task", WorkflowContext())
    assert first.name == "agent/task-3"
    clone.git("switch", "-q", "main")
    second = await primitive.execute("Task", WorkflowContext())
    assert second.name == "agent/task-4"


async def test_prefix_base_and_policy(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    clone.git("push", "-q", "origin", "main:develop")
    primitive = GitBranchPrimitive(policy=GitPolicy(prefix="bot/", max_slug_length=10))
    task = await primitive.execute(
        StartBranch("a rather long description", base="develop", repo=clone.work),
        WorkflowContext(),
    )
    assert task.name == "bot/a-rather"
    assert task.base == "develop"
    custom = await primitive.execute(
        StartBranch("x", prefix="team/ai-", repo=clone.work), WorkflowContext()
    )
    assert custom.name == "team/ai-x"


async def test_uncommitted_work_comes_along(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    clone.write("src/started.py", "print('early')\n")
    await GitBranchPrimitive(clone.work).execute("late branch", WorkflowContext())
    assert (clone.work / "src/started.py").exists()
    assert "?? src/started.py" in clone.git("status", "--porcelain")


async def test_local_only_repository_branches_from_the_local_base(tmp_path: Path) -> None:
    repo = tmp_path / "solo"
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    identify(repo)
    (repo / "a.txt").write_text("a\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    task = await GitBranchPrimitive(repo).execute("solo task", WorkflowContext())
    assert task.start_point == "refs/heads/main"
    assert not task.fetched


async def test_missing_base_is_reported(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    with pytest.raises(RepositoryStateError, match="'nope' exists neither"):
        await GitBranchPrimitive(clone.work).execute(
            StartBranch("task", base="nope"), WorkflowContext()
        )


@pytest.mark.parametrize(
    ("setup", "needle", "way_out"),
    [
        (["switch", "-q", "--detach", "HEAD"], "detached", "git switch"),
        (["cherry-pick", "agent/conflict"], "cherry-pick", "git cherry-pick --abort"),
        (["merge", "agent/conflict"], "merge", "git merge --abort"),
        (["rebase", "agent/conflict"], "rebase", "git rebase --abort"),
    ],
)
async def test_refusals_say_how_to_get_out(
    tmp_path: Path, setup: list[str], needle: str, way_out: str
) -> None:
    clone = make_clone(tmp_path)
    clone.git("switch", "-q", "-c", "agent/conflict")
    clone.write("src/app.py", "one\n")
    clone.commit_all("one")
    clone.git("switch", "-q", "-c", "agent/mine", "main")
    clone.write("src/app.py", "two\n")
    clone.commit_all("two")
    clone.git(*setup, check=False)
    with pytest.raises(RepositoryStateError) as caught:
        await GitBranchPrimitive(clone.work).execute("task", WorkflowContext())
    assert needle in str(caught.value)
    assert way_out in str(caught.value)


async def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(RepositoryStateError, match="not inside a git work tree"):
        await GitBranchPrimitive(tmp_path).execute("task", WorkflowContext())
