"""Where the SQLite ledger lives and how its file is opened.

``$TTA_HOME/ledger.db`` by default; the file is switched to WAL (waiting out other
processes switching it at the same moment), and a path that cannot hold a database is
diagnosed (a file standing where its folder should be).
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

__all__ = ["default_ledger_path", "file_in_the_way", "use_wal"]


def default_ledger_path() -> Path:
    """``$TTA_HOME/ledger.db``, ``TTA_HOME`` defaulting to ``~/.tta``."""
    home = os.environ.get("TTA_HOME") or "~/.tta"
    return Path(home).expanduser() / "ledger.db"


def file_in_the_way(folder: Path) -> Path | None:
    """The file standing where ``folder`` (or one of its parents) should be, if any."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            return None if candidate.is_dir() else candidate
    return None


def use_wal(conn: sqlite3.Connection, deadline: float) -> None:
    """Switch the file to WAL, waiting out other connections doing the same.

    Changing the journal mode of a fresh file answers "database is locked" at once when
    another connection is changing it too: SQLite does not call the busy handler there
    (about one round in ten with six connections opening a new file together). The
    switch is retried until the busy timeout, like every other wait for the lock.
    """
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(0.005)
