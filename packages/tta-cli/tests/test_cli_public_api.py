"""Every module of tta_cli keeps its public surface in an ``__all__`` that resolves
(ruff's RUF022 keeps it sorted)."""

from __future__ import annotations

import pkgutil
from importlib import import_module

import pytest

import tta_cli

MODULES = sorted(info.name for info in pkgutil.walk_packages(tta_cli.__path__, prefix="tta_cli."))


@pytest.mark.parametrize("name", MODULES)
def test_module_all_resolves(name: str) -> None:
    module = import_module(name)
    exported = getattr(module, "__all__", None)
    if exported is None:
        assert name.endswith(("__init__", "commands", "render")) or module.__file__.endswith(
            "__init__.py"
        ), f"{name} has no __all__"
        return
    assert len(set(exported)) == len(exported), name
    for attribute in exported:
        assert hasattr(module, attribute), f"{name}.{attribute}"


def test_every_command_module_registers() -> None:
    for name in MODULES:
        if name.startswith("tta_cli.commands."):
            assert callable(import_module(name).register), name
