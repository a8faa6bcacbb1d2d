"""`tta-lint` / `python -m tta_lint` and the pre-commit hook around it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tta_lint.__main__ import main

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = Path(__file__).resolve().parents[1]
HOOK = PACKAGE / "run-tta-lint"

RETRY = """import asyncio
async def fetch(url):
    for attempt in range(3):
        try:
            return await get(url)
        except OSError:
            await asyncio.sleep(1)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.tta.lint]\n")
    (tmp_path / "flow.py").write_text(RETRY)
    (tmp_path / "clean.py").write_text("x = 1\n")
    return tmp_path


def test_exit_codes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(project / "clean.py")]) == 0
    assert "no findings" in capsys.readouterr().out
    assert main([str(project)]) == 1
    out = capsys.readouterr().out
    assert "flow.py:3:5: TTA001" in out
    assert main([str(project / "missing.py")]) == 2
    assert "missing.py: no such file or directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["--format", "xml", str(project)])
    assert usage.value.code == 2


def test_output_file_and_formats(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = project / "out" / "report.json"
    report.parent.mkdir()
    assert main([str(project), "--format", "json", "--output", str(report)]) == 1
    assert capsys.readouterr().out == ""
    assert json.loads(report.read_text())["summary"]["by_rule"] == {"TTA001": 1}
    assert main([str(project), "--format", "sarif"]) == 1
    assert json.loads(capsys.readouterr().out)["version"] == "2.1.0"


def test_enable_disable_and_config_options(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(project), "--disable", "hand-rolled-retry"]) == 0
    assert main([str(project), "--enable", "TTA006"]) == 0
    assert main([str(project), "--enable", "TTA042"]) == 2
    assert "unknown rule 'TTA042'" in capsys.readouterr().err
    bad = project / "bad.toml"
    bad.write_text('disable = ["nope"]\n')
    assert main([str(project), "--config", str(bad)]) == 2
    assert main([str(project), "--config", str(project / "none.toml")]) == 2
    (project / "pyproject.toml").write_text('[tool.tta.lint]\ndisable = ["TTA001"]\n')
    assert main([str(project)]) == 0


def test_list_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list-rules"]) == 0
    out = capsys.readouterr().out
    for rule_id in ("TTA000", "TTA001", "TTA009"):
        assert rule_id in out


def test_python_dash_m_runs_in_a_fresh_interpreter(project: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tta_lint", "flow.py"],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("flow.py:3:5: TTA001")


def _hook_env() -> dict[str, str]:
    """A bare environment: no virtualenv, no PYTHONPATH, a python3 on PATH."""
    python = Path(sys.executable).resolve().parent
    return {"PATH": f"{python}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}


def test_hook_script_runs_without_installing_anything(project: Path) -> None:
    assert shutil.which("sh") is not None
    env = _hook_env()
    found = subprocess.run(
        [str(HOOK), "flow.py", "clean.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 1, found.stderr
    assert "flow.py:3:5: TTA001" in found.stdout
    assert "2 files checked" in found.stdout
    clean = subprocess.run(
        [str(HOOK), "clean.py"], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    assert (clean.returncode, clean.stdout) == (0, "tta-lint: no findings (1 file checked)\n")


def test_hook_script_is_executable_posix_sh() -> None:
    assert os.access(HOOK, os.X_OK)
    assert HOOK.read_text().startswith("#!/bin/sh\n")


def test_pre_commit_hook_definition() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    (hook,) = hooks
    assert hook["id"] == "tta-lint"
    assert hook["language"] == "unsupported_script"
    assert hook["minimum_pre_commit_version"] == "4.4.0"
    assert hook["types"] == ["python"]
    assert (ROOT / hook["entry"]).resolve() == HOOK


def _pre_commit() -> str:
    found = Path(sys.executable).parent / "pre-commit"
    if not found.is_file():
        pytest.skip("pre-commit (a dev dependency) is not installed")
    return str(found)


def test_current_pre_commit_accepts_the_manifest() -> None:
    done = subprocess.run(
        [_pre_commit(), "validate-manifest", str(ROOT / ".pre-commit-hooks.yaml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "deprecat" not in (done.stdout + done.stderr).lower()


def test_pre_commit_runs_the_hook_from_this_repository(tmp_path: Path) -> None:
    """``pre-commit try-repo``: the hook as another project would run it, on two files.

    The hook's files (manifest, script, sources) are copied into a repository of their
    own, so what runs is this working tree, whatever else is uncommitted beside it.
    """
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    env = {
        **os.environ,
        "PRE_COMMIT_HOME": str(tmp_path / "cache"),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    }  # fmt: skip

    def git(*args: str, cwd: Path) -> None:
        subprocess.run(["git", "-c", "init.defaultBranch=main", *args], cwd=cwd, check=True,
                       env=env, capture_output=True)  # fmt: skip

    hooks = tmp_path / "hooks"
    shutil.copytree(PACKAGE / "src", hooks / "packages/tta-lint/src",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    shutil.copy2(HOOK, hooks / "packages/tta-lint/run-tta-lint")
    shutil.copy2(PACKAGE / "pyproject.toml", hooks / "packages/tta-lint/pyproject.toml")
    shutil.copy2(ROOT / ".pre-commit-hooks.yaml", hooks / ".pre-commit-hooks.yaml")
    git("init", "-q", cwd=hooks)
    git("add", ".", cwd=hooks)
    git("commit", "-q", "-m", "hooks", cwd=hooks)

    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[tool.tta.lint]\n")
    (project / "bad.py").write_text(RETRY)
    (project / "good.py").write_text("x = 1\n")
    git("init", "-q", cwd=project)
    git("add", ".", cwd=project)

    def run(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_pre_commit(), "try-repo", str(hooks), "tta-lint", "--files", *files],
            cwd=project, capture_output=True, text=True, timeout=120, check=False, env=env,
        )  # fmt: skip

    clean = run("good.py")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    dirty = run("bad.py")
    assert dirty.returncode == 1, dirty.stdout + dirty.stderr
    assert "TTA001" in dirty.stdout
