"""``branch >> work >> commit >> push`` end to end, and the package's exported surface."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

from git_repos import isolated_git, make_clone, remote_refs
from tta_dev_integrations.git import (
    GitBranchPrimitive,
    GitCommitPrimitive,
    GitPushPrimitive,
    PushResult,
    StartBranch,
    TaskBranch,
)
from tta_dev_primitives import LambdaPrimitive, SequentialPrimitive, WorkflowContext

_ = isolated_git


@pytest.mark.usefixtures("isolated_git")
async def test_branch_work_commit_push_composes(tmp_path: Path) -> None:
    clone = make_clone(tmp_path, hook=True)

    async def work(task: TaskBranch) -> TaskBranch:
        (task.repo / "src" / "report.py").write_text("def report():\n    return 'ok'\n")
        (task.repo / ".env").write_text("TOKEN=never-committed\n")
        return task

    flow = (
        GitBranchPrimitive(clone.work)
        >> LambdaPrimitive(work)
        >> GitCommitPrimitive()
        >> GitPushPrimitive()
    )
    assert isinstance(flow, SequentialPrimitive)
    result = await flow.execute(StartBranch("Add a report function"), WorkflowContext())

    assert isinstance(result, PushResult)
    assert result.branch == "agent/add-a-report-function"
    refs = remote_refs(clone.remote)
    assert refs[f"refs/heads/{result.branch}"] == result.sha == clone.head()
    tree = clone.git("ls-tree", "-r", "--name-only", result.sha).splitlines()
    assert "src/report.py" in tree
    assert ".env" not in tree
    assert clone.git("log", "-1", "--format=%s") == "feat: add a report function"
    assert clone.git("rev-parse", "--abbrev-ref", "@{u}") == f"origin/{result.branch}"


def test_exports_are_sorted_resolvable_and_documented() -> None:
    module = importlib.import_module("tta_dev_integrations.git")
    names = list(module.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"


def test_importing_the_git_package_is_light() -> None:
    code = (
        "import sys, tta_dev_integrations.git; "
        "print([m for m in ('detect_secrets', 'httpx', 'opentelemetry.sdk') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
