"""Reads of the SQLite ledger that need no worker thread: the router's preflight.

In WAL mode a reader never waits for a writer: it reads the last committed state while
a transaction commits. So a read that writes nothing is run where it is asked, on a
read-only connection of the asking thread (no hop to a worker, no queueing behind
other callers' commits). The connection is opened with no busy wait: on the rare
occasion a read would wait (a checkpoint resetting the WAL, a recovery) it fails at
once, and the caller takes the worker's path instead. A read that finds it must write
(a lease to charge) answers ``None`` and takes that path too.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import TypeVar

__all__ = ["Readers"]

T = TypeVar("T")


class Readers:
    """One read-only connection per thread to the ledger file at ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[sqlite3.Connection] = []
        self._refused = False

    def read(self, query: Callable[[sqlite3.Connection], T | None]) -> T | None:
        """``query``'s answer on this thread's connection; ``None`` if it cannot answer."""
        if self._refused:
            return None
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = self._connect()
            except (sqlite3.Error, OSError, ValueError):  # no read-only access: the worker reads
                self._refused = True
                return None
        try:
            return query(conn)
        except sqlite3.Error:  # it would have waited, or the file is odd: the worker decides
            self._forget(conn)
            return None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            f"{self.path.resolve().as_uri()}?mode=ro",
            uri=True,
            timeout=0,  # never wait for a lock here
            isolation_level=None,
            check_same_thread=False,  # used by its own thread only; closed by close()
        )
        with self._lock:
            self._open.append(conn)
        self._local.conn = conn
        return conn

    def _forget(self, conn: sqlite3.Connection) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._open:
                self._open.remove(conn)
        with suppress(sqlite3.Error):
            conn.close()

    def close(self) -> None:
        """Close every thread's connection (a later read opens a new one)."""
        with self._lock:
            closing, self._open = self._open, []
        self._local = threading.local()
        for conn in closing:
            with suppress(sqlite3.Error):
                conn.close()
