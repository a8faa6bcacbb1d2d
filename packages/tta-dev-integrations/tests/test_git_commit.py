"""Smart commit against real repositories: staging policy, secret scan, message, refusals."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from git_repos import Clone, isolated_git, make_clone
from tta_dev_integrations.git import (
    CommitRequest,
    GitCommitPrimitive,
    GitPolicy,
    MessageDraft,
    NothingToCommitError,
    ProtectedBranchError,
    RepositoryStateError,
    SecretsFoundError,
)
from tta_dev_primitives import LambdaPrimitive, WorkflowContext

pytestmark = pytest.mark.usefixtures("isolated_git")
_ = isolated_git


def task_clone(tmp_path: Path) -> Clone:
    clone = make_clone(tmp_path)
    clone.git("switch", "-q", "-c", "agent/task")
    return clone


def committed_files(clone: Clone, rev: str = "HEAD") -> set[str]:
    out = clone.git("diff-tree", "--no-commit-id", "--name-only", "-r", rev)
    return set(out.splitlines())


async def test_stages_changes_and_new_files_but_not_ignored_or_secret_ones(
    tmp_path: Path,
) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/app.py", "def main():\n    return 2\n")
    clone.write("src/new_module.py", "VALUE = 1\n")
    clone.write("debug.log", "ignored by .gitignore\n")
    clone.write("build/out.txt", "ignored directory\n")
    clone.write(".env", "TOKEN=abc\n")
    clone.write("keys/deploy.pem", "-----BEGIN PRIVATE KEY-----\n")
    (clone.work / "README.md").unlink()

    result = await GitCommitPrimitive(clone.work).execute(
        CommitRequest(task="Add the new module"), WorkflowContext()
    )
    assert committed_files(clone) == {"src/app.py", "src/new_module.py", "README.md"}
    assert set(result.files) == {"src/app.py", "src/new_module.py", "README.md"}
    assert set(result.skipped) == {".env", "keys/deploy.pem"}
    assert result.sha == clone.head()
    assert result.branch == "agent/task"
    assert not (clone.work / "README.md").exists()
    status = clone.git("status", "--porcelain", "--untracked-files=all")
    assert "?? .env" in status
    assert "?? keys/deploy.pem" in status


async def test_message_is_conventional_and_lists_files(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/widgets/button.py", "class Button: ...\n")
    clone.write("src/widgets/menu.py", "class Menu: ...\n")
    await GitCommitPrimitive(clone.work).execute(
        CommitRequest(task="Add button and menu widgets."), WorkflowContext()
    )
    message = clone.git("log", "-1", "--format=%B")
    assert message.splitlines()[0] == "feat(widgets): add button and menu widgets"
    assert "- add src/widgets/button.py (+1 -0)" in message
    assert "- add src/widgets/menu.py (+1 -0)" in message


async def test_docs_only_change_is_typed_docs(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write("docs/guide.md", "# Guide\n")
    clone.write("README.md", "# demo\n\nMore words.\n")
    result = await GitCommitPrimitive(clone.work).execute(
        CommitRequest(task="describe setup"), WorkflowContext()
    )
    assert result.message.startswith("docs: describe setup\n")


async def test_explicit_message_is_used_as_given(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/app.py", "x = 3\n")
    await GitCommitPrimitive(clone.work).execute(
        CommitRequest(message="chore: my own words\n\nBecause."), WorkflowContext()
    )
    assert clone.git("log", "-1", "--format=%B") == "chore: my own words\n\nBecause."


async def test_existing_staging_is_respected_unless_stage_all(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/a.py", "a = 1\n")
    clone.write("src/b.py", "b = 1\n")
    clone.git("add", "src/a.py")
    primitive = GitCommitPrimitive(clone.work)
    await primitive.execute(None, WorkflowContext())
    assert committed_files(clone) == {"src/a.py"}
    clone.write("src/c.py", "c = 1\n")
    clone.git("add", "src/c.py")
    await primitive.execute(CommitRequest(stage_all=True), WorkflowContext())
    assert committed_files(clone) == {"src/b.py", "src/c.py"}


async def test_paths_limit_what_is_staged(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/mine/a.py", "a = 1\n")
    clone.write("src/theirs.py", "t = 1\n")
    clone.write("src/mine-too.py", "not under src/mine\n")
    await GitCommitPrimitive(clone.work).execute(
        CommitRequest(paths=("./src/mine/",)), WorkflowContext()
    )
    assert committed_files(clone) == {"src/mine/a.py"}


async def test_odd_file_names_are_literal_pathspecs(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/*.py", "star = 1\n")
    clone.write("src/other.py", "other = 1\n")
    clone.write(":(glob)x", "magic-looking name\n")
    clone.write("-rf", "dash name\n")
    await GitCommitPrimitive(clone.work).execute(
        CommitRequest(paths=("src/*.py", ":(glob)x", "-rf")), WorkflowContext()
    )
    assert committed_files(clone) == {"src/*.py", ":(glob)x", "-rf"}


async def test_nothing_to_commit(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write(".env", "X=1\n")
    with pytest.raises(NothingToCommitError, match=r"\.env left out as secret"):
        await GitCommitPrimitive(clone.work).execute(None, WorkflowContext())


async def test_protected_branch_needs_explicit_permission(tmp_path: Path) -> None:
    clone = make_clone(tmp_path)
    clone.write("src/app.py", "x = 4\n")
    with pytest.raises(ProtectedBranchError, match="tta git start"):
        await GitCommitPrimitive(clone.work).execute(None, WorkflowContext())
    result = await GitCommitPrimitive(clone.work).execute(
        CommitRequest(allow_protected=True), WorkflowContext()
    )
    assert result.branch == "main"
    policy = GitPolicy(protected=("prod/*",), allow_commit_on_protected=False)
    clone.git("switch", "-q", "-c", "prod/eu")
    clone.write("src/app.py", "x = 5\n")
    with pytest.raises(ProtectedBranchError):
        await GitCommitPrimitive(clone.work, policy=policy).execute(None, WorkflowContext())


async def test_expected_branch_must_be_current(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/app.py", "x = 6\n")
    with pytest.raises(RepositoryStateError, match="git switch agent/other"):
        await GitCommitPrimitive(clone.work).execute(
            CommitRequest(branch="agent/other"), WorkflowContext()
        )


async def test_secret_hits_name_file_line_and_detector_only(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    clone.write("src/settings.py", f"import os\n\nREGION = 'eu'\nAWS_KEY_ID = '{key}'\n")
    with pytest.raises(SecretsFoundError) as caught:
        await GitCommitPrimitive(clone.work).execute(None, WorkflowContext())
    finding = next(f for f in caught.value.findings if f.detector == "AWS Access Key")
    assert (finding.path, finding.line) == ("src/settings.py", 4)
    assert key not in str(caught.value)
    assert "allowlist" in str(caught.value)
    assert clone.git("rev-list", "--count", "HEAD") == "1"


async def test_only_added_lines_count_and_allowlist_pragma_works(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    key = "AKIA" + "IOSFODNN7EXAMPLE"
    clone.write("src/legacy.py", f"OLD = '{key}'  # pragma: allowlist secret\n")
    await GitCommitPrimitive(clone.work).execute(None, WorkflowContext())
    clone.write("src/legacy.py", f"OLD = '{key}'  # pragma: allowlist secret\nNEW = 1\n")
    result = await GitCommitPrimitive(clone.work).execute(None, WorkflowContext())
    assert result.files == ("src/legacy.py",)


async def test_ordinary_code_is_not_flagged(tmp_path: Path) -> None:
    import tta_dev_integrations.git as package

    clone = task_clone(tmp_path)
    sources = sorted(Path(package.__file__).parent.glob("*.py"))
    for source in sources:
        clone.write(f"src/git/{source.name}", source.read_text(encoding="utf-8"))
    result = await GitCommitPrimitive(clone.work).execute(None, WorkflowContext())
    assert len(result.files) == len(sources)


async def test_message_writer_writes_the_body(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/app.py", "def main():\n    return 42\n")
    seen: list[MessageDraft] = []

    async def writer(draft: MessageDraft) -> str:
        seen.append(draft)
        return "Return the answer instead of one.\n"

    await GitCommitPrimitive(clone.work, message_writer=writer).execute(
        CommitRequest(task="fix the return value"), WorkflowContext()
    )
    assert clone.git("log", "-1", "--format=%B") == (
        "fix: the return value\n\nReturn the answer instead of one."
    )
    assert "+    return 42" in seen[0].diff
    assert seen[0].files[0].path == "src/app.py"


async def test_message_writer_may_be_a_primitive(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/app.py", "x = 7\n")

    async def body(draft: MessageDraft) -> str:
        return f"{len(draft.files)} file(s) by a primitive"

    primitive = GitCommitPrimitive(clone.work, message_writer=LambdaPrimitive(body))
    result = await primitive.execute(None, WorkflowContext())
    assert result.message.endswith("\n\n1 file(s) by a primitive\n")


async def test_failing_writer_falls_back_to_the_rule_body(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clone = task_clone(tmp_path)
    clone.write("src/app.py", "x = 8\n")

    async def broken(draft: MessageDraft) -> str:
        raise RuntimeError("model unavailable")

    result = await GitCommitPrimitive(clone.work, message_writer=broken).execute(
        None, WorkflowContext()
    )
    assert "Files:\n- modify src/app.py" in result.message
    assert "model unavailable" in caplog.text


async def test_concurrent_commits_in_one_clone_do_not_mix(tmp_path: Path) -> None:
    clone = task_clone(tmp_path)
    names = [f"src/agent_{i}.py" for i in range(6)]
    for name in names:
        clone.write(name, f"NAME = {name!r}\n")
    primitive = GitCommitPrimitive(clone.work)
    results = await asyncio.gather(
        *(primitive.execute(CommitRequest(paths=(n,), task=n), WorkflowContext()) for n in names)
    )
    assert sorted(r.files for r in results) == sorted((n,) for n in names)
    assert len({r.sha for r in results}) == len(names)
    for result in results:
        assert committed_files(clone, result.sha) == set(result.files)
    assert clone.git("rev-list", "--count", "HEAD") == str(1 + len(names))
    assert clone.git("fsck", "--no-progress") == ""
