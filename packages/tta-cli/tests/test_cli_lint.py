"""`tta lint`, tested on its own Typer app (other commands are not needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tta_cli.commands.lint import register
from tta_cli.errors import CLIError

RETRY = """import asyncio
async def fetch(url):
    for attempt in range(3):
        try:
            return await get(url)
        except OSError:
            await asyncio.sleep(1)
"""


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root, so `lint` stays a subcommand."""

    register(app)
    return app


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.tta.lint]\n")
    (tmp_path / "flow.py").write_text(RETRY)
    (tmp_path / "clean.py").write_text("x = 1\n")
    return tmp_path


def test_findings_exit_1_with_the_report(app: typer.Typer, project: Path) -> None:
    result = CliRunner().invoke(app, ["lint", str(project)])
    assert result.exit_code == 1, result.output
    assert f"{project}/flow.py:3:5: TTA001 hand-rolled retry loop" in result.output
    assert "fix: wrap the step in RetryPrimitive" in result.output
    assert result.output.rstrip().endswith("(TTA001 x1; 2 files checked)")


def test_clean_exit_0(app: typer.Typer, project: Path) -> None:
    result = CliRunner().invoke(app, ["lint", str(project / "clean.py")])
    assert (result.exit_code, result.output) == (0, "tta-lint: no findings (1 file checked)\n")


def test_json_and_sarif_to_a_file(app: typer.Typer, project: Path) -> None:
    out = project / "report.sarif"
    result = CliRunner().invoke(app, ["lint", str(project), "--format", "sarif", "-o", str(out)])
    assert (result.exit_code, result.output) == (1, "")
    sarif = json.loads(out.read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["TTA001"]
    result = CliRunner().invoke(app, ["lint", str(project), "--format", "json"])
    assert json.loads(result.output)["summary"]["findings"] == 1


def test_bad_format_is_a_usage_error(app: typer.Typer, project: Path) -> None:
    result = CliRunner().invoke(app, ["lint", str(project), "--format", "xml"])
    assert result.exit_code == 2
    assert "use one of text, json, sarif" in result.output


def test_missing_path_and_bad_config_are_cli_errors(app: typer.Typer, project: Path) -> None:
    result = CliRunner().invoke(app, ["lint", str(project / "nope.py")])
    assert isinstance(result.exception, CLIError)
    assert "nope.py: no such file or directory" in str(result.exception)
    (project / "pyproject.toml").write_text('[tool.tta.lint]\nenable = ["TTA404"]\n')
    result = CliRunner().invoke(app, ["lint", str(project)])
    assert isinstance(result.exception, CLIError)
    assert "unknown rule 'TTA404'" in str(result.exception)


def test_unwritable_output_is_a_cli_error(app: typer.Typer, project: Path) -> None:
    result = CliRunner().invoke(app, ["lint", str(project), "-o", str(project / "no" / "x")])
    assert isinstance(result.exception, CLIError)
    assert "cannot write the report" in str(result.exception)


def test_default_path_is_the_current_directory(
    app: typer.Typer, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(app, ["lint"])
    assert result.exit_code == 1
    assert result.output.startswith("flow.py:3:5: TTA001")
