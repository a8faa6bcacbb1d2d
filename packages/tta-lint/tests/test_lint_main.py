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
    assert hook["language"] == "script"
    assert hook["types"] == ["python"]
    assert (ROOT / hook["entry"]).resolve() == HOOK
