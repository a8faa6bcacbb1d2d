"""The public surface of tta_lint: every name of ``__all__`` resolves (ruff keeps it sorted)."""

from __future__ import annotations

import tta_lint


def test_every_name_of_all_resolves() -> None:
    assert len(set(tta_lint.__all__)) == len(tta_lint.__all__)
    for name in tta_lint.__all__:
        assert getattr(tta_lint, name) is not None, name
