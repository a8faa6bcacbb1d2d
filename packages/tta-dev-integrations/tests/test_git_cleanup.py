"""Cleanup of merged branches, stale remote-tracking refs and worktrees; dry run changes nothing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from git_repos import Clone, isolated_git, make_clone, remote_refs, second_clone
from tta_dev_integrations.git import CleanupRequest, GitCleanupPrimitive, RepositoryStateError
from tta_dev_primitives import WorkflowContext

pytestmark = pytest.mark.usefixtures("isolated_git")
_ = isolated_git


def branch_with_commit(clone: Clone, name: str, *, push: bool = True) -> None:
    clone.git("switch", "-q", "-c", name, "main")
    clone.write(f"work/{name.replace('/', '_')}.txt", f"{name}\n")
    clone.commit_all(f"work on {name}")
    if push:
        clone.git("push", "-q", "-u", "origin", name)


def merge_into_main(clone: Clone, name: str) -> None:
    clone.git("switch", "-q", "main")
    clone.git("merge", "-q", "--no-ff", "-m", f"merge {name}", name)
    clone.git("push", "-q", "origin", "main")


def scene(tmp_path: Path) -> Clone:
    """Merged and unmerged, local and remote, agent and human branches; stale refs."""
    clone = make_clone(tmp_path, hook=True)
    for name in ("agent/merged", "feature/human-merged", "release/1.0"):
        branch_with_commit(clone, name)
        merge_into_main(clone, name)
    branch_with_commit(clone, "agent/local-merged", push=False)
    merge_into_main(clone, "agent/local-merged")
    branch_with_commit(clone, "agent/unmerged")
    branch_with_commit(clone, "agent/stale")
    other = second_clone(clone, tmp_path)
    other.git("push", "-q", "origin", "--delete", "agent/stale")
    clone.git("worktree", "add", "-q", "-b", "agent/in-worktree", str(tmp_path / "wt"), "main")
    clone.git("worktree", "add", "-q", "-b", "agent/gone-tree", str(tmp_path / "gone"), "main")
    shutil.rmtree(tmp_path / "gone")
    clone.git("switch", "-q", "-c", "agent/current", "main")
    return clone


def everything(clone: Clone) -> tuple[str, dict[str, str], str]:
    refs = clone.git("for-each-ref", "--format=%(refname) %(objectname)")
    return refs, remote_refs(clone.remote), clone.git("worktree", "list", "--porcelain")


async def test_dry_run_reports_and_changes_nothing(tmp_path: Path) -> None:
    clone = scene(tmp_path)
    before = everything(clone)
    report = await GitCleanupPrimitive(clone.work).execute(True, WorkflowContext())
    assert everything(clone) == before
    assert report.dry_run
    assert set(report.local_branches) == {
        "agent/merged",
        "feature/human-merged",
        "agent/local-merged",
        "agent/gone-tree",
    }
    assert report.remote_branches == ("origin/agent/merged",)
    assert report.pruned_remote_refs == ("origin/agent/stale",)
    assert report.pruned_worktrees == ("worktrees/gone",)
    assert report.kept["agent/current"] == "checked out"
    assert report.kept["agent/in-worktree"] == "checked out"
    assert report.kept["release/1.0"] == "base or protected"
    assert report.kept["origin/feature/human-merged"] == "not under 'agent/'"
    assert "agent/unmerged" not in report.kept
    assert "agent/unmerged" not in report.local_branches


async def test_cleanup_deletes_what_the_dry_run_listed(tmp_path: Path) -> None:
    clone = scene(tmp_path)
    dry = await GitCleanupPrimitive(clone.work).execute(True, WorkflowContext())
    report = await GitCleanupPrimitive(clone.work).execute(False, WorkflowContext())
    assert (report.local_branches, report.remote_branches) == (
        dry.local_branches,
        dry.remote_branches,
    )
    locals_left = set(clone.git("for-each-ref", "--format=%(refname:short)", "refs/heads").split())
    assert locals_left == {
        "main", "release/1.0", "agent/unmerged", "agent/stale", "agent/in-worktree",
        "agent/current",
    }  # fmt: skip
    remote_left = set(remote_refs(clone.remote))
    assert "refs/heads/agent/merged" not in remote_left
    assert {"refs/heads/main", "refs/heads/feature/human-merged", "refs/heads/release/1.0",
            "refs/heads/agent/unmerged"} <= remote_left  # fmt: skip
    assert "origin/agent/stale" not in clone.git("branch", "-r")
    assert "gone" not in clone.git("worktree", "list")
    assert clone.git("config", "--get-regexp", r"branch\.agent/merged\..*", check=False) == ""
    assert clone.branch() == "agent/current"


async def test_any_remote_prefix_and_local_only(tmp_path: Path) -> None:
    clone = scene(tmp_path)
    report = await GitCleanupPrimitive(clone.work).execute(
        CleanupRequest(dry_run=True, any_remote_prefix=True), WorkflowContext()
    )
    assert set(report.remote_branches) == {"origin/agent/merged", "origin/feature/human-merged"}
    local_only = await GitCleanupPrimitive(clone.work).execute(
        CleanupRequest(remote_branches=False), WorkflowContext()
    )
    assert local_only.remote_branches == ()
    assert "refs/heads/agent/merged" in remote_refs(clone.remote)


async def test_a_branch_that_moved_on_the_remote_survives(tmp_path: Path) -> None:
    clone = scene(tmp_path)
    other = second_clone(clone, tmp_path, "latecomer")
    other.git("switch", "-q", "agent/merged")
    other.write("late.txt", "pushed after the merge\n")
    late = other.commit_all("late")
    other.git("push", "-q", "origin", "agent/merged")
    report = await GitCleanupPrimitive(clone.work).execute(False, WorkflowContext())
    assert "origin/agent/merged" not in report.remote_branches
    assert remote_refs(clone.remote)["refs/heads/agent/merged"] == late


async def test_cleanup_refuses_mid_rebase(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    clone.git("switch", "-q", "-c", "agent/a")
    clone.write("src/app.py", "a\n")
    clone.commit_all("a")
    clone.git("switch", "-q", "-c", "agent/b", "main")
    clone.write("src/app.py", "b\n")
    clone.commit_all("b")
    clone.git("rebase", "agent/a", check=False)
    with pytest.raises(RepositoryStateError, match="git rebase --abort"):
        await GitCleanupPrimitive(clone.work).execute(True, WorkflowContext())
