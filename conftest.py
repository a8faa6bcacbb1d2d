"""Rules for the whole test suite.

Tests that need a real part (PostgreSQL, the local model, Prometheus, Chromium,
OpenBao, ...) are marked ``@pytest.mark.needs("part")``. Outside CI they may skip
with a reason; under ``CI=true`` such a skip is turned into a failure, so CI can
never pass without having run them.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """Fail, under CI, a test that needs a real part and skipped."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    parts = [str(arg) for mark in item.iter_markers("needs") for arg in mark.args]
    if IN_CI and report.skipped and parts:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"CI=true but this test, which needs {', '.join(parts)}, was skipped: {reason}. "
            ".ci/run must install and start what it needs."
        )


@pytest.fixture(autouse=True)
def _own_tta_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Each test gets its own ``TTA_HOME``: nothing reads or writes the user's ``~/.tta``."""
    home = tmp_path_factory.mktemp("tta-home")
    monkeypatch.setenv("TTA_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> Generator[None, None, None]:
    """Each test starts and ends with no secret registered for scrubbing.

    Providers register their keys; left registered, a test's key (and its first and
    last 8 characters) would be scrubbed from the output of every later test.
    """
    from tta_secrets import redaction

    redaction.clear_registered_secrets()
    yield
    redaction.clear_registered_secrets()
