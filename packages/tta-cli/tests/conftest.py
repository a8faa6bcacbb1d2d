"""Fixtures of the CLI tests: an isolated TTA_HOME, and apps holding only some commands."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from pathlib import Path

import pytest
import typer


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
