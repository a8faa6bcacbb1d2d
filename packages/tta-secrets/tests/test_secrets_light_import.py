"""Importing tta_secrets (its errors, Secret, redaction) loads no loader and no source.

The loader's sources pull in python-dotenv, and Vault's client ssl and asyncio: they load
on first use of a loader name, which still resolves from the package as before.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

import tta_secrets

HEAVY = ("asyncio", "ssl", "dotenv", "tta_secrets.loader", "tta_secrets.sources")


@pytest.mark.parametrize("statement", ["import tta_secrets", "import tta_secrets.redaction"])
def test_the_package_and_its_redaction_import_light(statement: str) -> None:
    code = f"import sys; {statement}; print([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_exported_name_resolves() -> None:
    for name in tta_secrets.__all__:
        assert getattr(tta_secrets, name) is not None, name
    from tta_secrets.loader import default_loader

    assert tta_secrets.default_loader is default_loader
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = tta_secrets.nothing_here  # type: ignore[attr-defined]
