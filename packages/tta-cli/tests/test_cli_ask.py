"""``tta ask`` on the local model: the answer on stdout, the routing on stderr, the ledger."""

from __future__ import annotations

import subprocess

import pytest


def _ask(tta, home, *args: str) -> subprocess.CompletedProcess[str]:
    return tta("ask", *args, env={"TTA_HOME": str(home), "OTEL_TRACES_EXPORTER": "none"})


@pytest.mark.needs("local-model")
@pytest.mark.parametrize("stream", [False, True])
def test_ask_answers_on_the_local_model_and_records_the_call(
    tmp_path, local_model, tta, ledger_entries, stream
):
    args = ["Name a colour.", "--profile", "free", "--max-tokens", "8", "--scope", "cli"]
    result = _ask(tta, tmp_path, *args, *(["--stream"] if stream else []))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr.startswith("[local via local: ")
    assert "$0.00" in result.stderr
    entries = ledger_entries(tmp_path, "cli")
    assert [(e.model, e.state) for e in entries] == [("local", "free")]


@pytest.mark.needs("local-model")
def test_ask_for_an_unknown_model_fails_in_one_line(tmp_path, local_model, tta):
    result = _ask(tta, tmp_path, "hi", "--model", "gpt-17")
    assert result.returncode == 1
    assert result.stderr.startswith("tta: error: ")
    assert "gpt-17" in result.stderr
    assert result.stderr.count("\n") == 1


def test_ask_with_a_bad_complexity_is_a_usage_error(tmp_path, app_with):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app_with("ask"), ["ask", "hi", "--complexity", "extreme"])
    assert result.exit_code == 2


@pytest.mark.needs("local-model")
def test_ask_shows_its_limit_from_the_flag_or_the_variable_and_never_stores_it(
    tmp_path, local_model, tta, ledger_entries
):
    args = ["Name a colour.", "--profile", "free", "--max-tokens", "4", "--scope", "cli"]
    flagged = _ask(tta, tmp_path, *args, "--limit", "0.5")
    assert flagged.returncode == 0, flagged.stderr
    assert "scope 'cli': limit $0.50" in flagged.stderr
    by_variable = tta(
        "ask", *args,
        env={"TTA_HOME": str(tmp_path), "OTEL_TRACES_EXPORTER": "none",
             "TTA_MONTHLY_LIMIT": "3"},
    )  # fmt: skip
    assert by_variable.returncode == 0, by_variable.stderr
    assert "limit $3.00" in by_variable.stderr
    unlimited = _ask(tta, tmp_path, *args)
    assert "no limit of its own" in unlimited.stderr
    history = tta("budget", "history", env={"TTA_HOME": str(tmp_path)})
    assert "no limit was ever set" in history.stdout  # tta ask never writes a limit


def test_ask_refuses_a_negative_limit_as_a_usage_error(app_with):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app_with("ask"), ["ask", "hi", "--limit", "-1"])
    assert result.exit_code == 2


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_ask_refuses_an_empty_prompt_as_a_usage_error(app_with, prompt):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app_with("ask"), ["ask", prompt])
    assert result.exit_code == 2
    assert "the prompt is empty" in result.output
