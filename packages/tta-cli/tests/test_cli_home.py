"""Commands that keep state under TTA_HOME refuse at once, in one line, when it cannot."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "args",
    [("demo",), ("ask", "hi", "--profile", "free"), ("budget",), ("budget", "limit", "t", "1")],
)
def test_a_tta_home_that_is_a_file_is_refused_in_one_line(tmp_path, tta, args):
    home = tmp_path / "home"
    home.write_text("not a directory", encoding="utf-8")
    result = tta(*args, env={"TTA_HOME": str(home), "OTEL_TRACES_EXPORTER": "none"})
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"TTA_HOME {home} is a file, not a directory" in result.stderr
    assert result.stdout == ""


def test_a_tta_home_under_a_file_is_refused_too(tmp_path, tta):
    blocker = tmp_path / "blocker"
    blocker.write_text("x", encoding="utf-8")
    result = tta("budget", env={"TTA_HOME": str(blocker / "home")})
    assert result.returncode == 1
    assert f"is under {blocker}, a file" in result.stderr


def test_a_corrupt_ledger_is_named_with_how_to_move_it_aside(tmp_path, tta):
    home = tmp_path / "home"
    home.mkdir()
    (home / "ledger.db").write_bytes(b"this is not an SQLite database, just bytes" * 100)
    result = tta("budget", env={"TTA_HOME": str(home)})
    assert result.returncode == 1
    assert "is not a usable SQLite database" in result.stderr
    assert f"mv '{home / 'ledger.db'}'" in result.stderr
    assert (home / "ledger.db").read_bytes().startswith(b"this is not")  # untouched
