"""The ``tta`` application as a whole: every command present, exit codes, the reference."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tta_cli.app import COMMAND_MODULES, app, main
from tta_cli.reference import render_reference

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT / "docs" / "CLI_REFERENCE.md"


@pytest.fixture
def tta_quiet(tta):
    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return tta(*args, env={"OTEL_TRACES_EXPORTER": "none", **env}, timeout=60)

    return run


def test_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for name in ("demo", "ask", "budget", "models", "coder", "traces", "metrics", "secrets",
                 "git", "lint"):  # fmt: skip
        assert name in result.output
    assert len(COMMAND_MODULES) == 10


@pytest.mark.parametrize("command", COMMAND_MODULES)
def test_every_command_answers_help(command):
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_unknown_command_is_a_usage_error_with_exit_code_2(tta_quiet):
    result = tta_quiet("frobnicate")
    assert result.returncode == 2
    assert "frobnicate" in result.stderr


def test_a_failure_is_one_line_and_exit_code_1_and_debug_shows_the_traceback(tmp_path, tta_quiet):
    missing = str(tmp_path / "nope.json")
    result = tta_quiet("demo", "--tasks", missing, TTA_HOME=str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith("tta: error: cannot read")
    assert result.stderr.count("\n") == 1
    debug = tta_quiet("--debug", "demo", "--tasks", missing, TTA_HOME=str(tmp_path))
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr


def test_main_returns_exit_codes_instead_of_exiting():
    assert main(["--help"]) == 0
    assert main(["no-such-command"]) == 2


def test_models_json_reports_where_a_key_was_found_never_its_value(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-value-that-must-not-show-0123456789")
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["alias"]: row for row in json.loads(result.output)}
    assert rows["gpt-4o"]["key"] == "env:OPENAI_API_KEY"
    assert rows["local"]["key"] == "not needed"
    assert rows["gpt-4o"]["usd_per_mtok"]["input"] > 0
    assert "sk-test-value" not in result.output


def test_coder_reports_an_explicit_override(monkeypatch):
    monkeypatch.setenv("TTA_CODER", "cursor")
    result = CliRunner().invoke(app, ["coder", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["coder"] == "cursor"
    assert data["source"] == "explicit"


def test_cli_reference_is_generated_from_the_app():
    assert REFERENCE.read_text(encoding="utf-8") == render_reference(), (
        "docs/CLI_REFERENCE.md is stale: run "
        "`.venv/bin/python -m tta_cli.reference > docs/CLI_REFERENCE.md`"
    )
