"""Ledger writes that could not be made yet, kept on disk until a ledger takes them.

When the ledger is unreachable, a served call still has to be recorded: a paid call's
settlement (the money is spent) and a free call's record (quotas, statistics, the
justification trail). They go to an append-only journal under ``TTA_HOME``
(``pending.jsonl``), each line flushed and fsynced before the call returns, so they
outlive the process. The next time any process on the machine reaches the ledger it
replays the journal, under an exclusive file lock, and removes what the ledger took.

Replay is exactly-once in effect: ``settle`` and ``record_free`` are idempotent by
request id, so a line replayed twice (a crash between the ledger's commit and the
journal's rewrite) changes nothing the second time.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from tta_dev_integrations.llm.budget.ledger import Ledger, LedgerUnavailableError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["PendingJournal", "PendingWrite", "default_journal_path"]

logger = logging.getLogger(__name__)

WriteKind = Literal["settle", "free"]


def default_journal_path() -> Path:
    """``$TTA_HOME/pending.jsonl``: beside the default SQLite ledger."""
    # Imported here: the SQLite module is not loaded by importing the LLM layer.
    from tta_dev_integrations.llm.budget.sqlite_file import default_ledger_path

    return default_ledger_path().with_name("pending.jsonl")


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """One ledger write waiting in the journal."""

    kind: WriteKind
    record: dict[str, Any]

    @property
    def request_id(self) -> str:
        """The call the write is about."""
        return str(self.record.get("request_id", ""))


class PendingJournal:
    """The append-only journal of ledger writes an outage held back."""

    def __init__(self, path: str | Path | None = None) -> None:
        from pathlib import Path  # here, not at the top: pathlib costs ~2.5 ms to import

        self.path = Path(path).expanduser() if path is not None else default_journal_path()
        self._lock_path = self.path.with_name(self.path.name + ".lock")

    def __repr__(self) -> str:
        return f"PendingJournal({str(self.path)!r})"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, kind: WriteKind, record: dict[str, Any]) -> None:
        """Add one write, durably (flushed and fsynced) before returning."""
        with self._locked():
            _durable_append(self.path, _line(PendingWrite(kind, record)))

    def pending(self) -> list[PendingWrite]:
        """What the journal holds now, oldest first (unreadable lines are skipped)."""
        writes: list[PendingWrite] = []
        for path in (*sorted(self._aside()), self.path):
            try:
                writes.extend(_parse(path.read_text(encoding="utf-8")))
            except FileNotFoundError:
                continue
        return writes

    def has_aside(self) -> bool:
        """Whether a replay moved writes aside that are not done yet (maybe a dead one)."""
        return any(self._aside())

    def has_pending(self) -> bool:
        """Whether anything waits (a cheap check: the file exists and is not empty)."""
        try:
            return self.path.stat().st_size > 0
        except OSError:
            return False

    async def replay(self, ledger: Ledger) -> int:
        """Hand every pending write to ``ledger``; returns how many it took.

        The journal is first moved aside (under the lock, briefly), so appends go on
        while the ledger takes its lines; what the ledger could not take (it became
        unreachable) is appended back. A write the ledger refuses as invalid (an unknown
        request id) is dropped with a warning: retrying it could never succeed. A file
        left aside by a process that died mid-replay is replayed too.
        """
        batches = self._take()
        if not batches:
            return 0
        done = 0
        left: list[PendingWrite] = []
        for batch in batches:
            writes = list(_parse(batch.read_text(encoding="utf-8")))
            for position, write in enumerate(writes):
                if left:
                    left.extend(writes[position:])
                    break
                try:
                    await _apply(ledger, write)
                except LedgerUnavailableError:
                    left.extend(writes[position:])
                    break
                done += 1
        if left:
            self._append_back(left)
        for batch in batches:
            batch.unlink(missing_ok=True)
        if done:
            logger.info("recorded %d ledger write(s) an earlier outage held back", done)
        return done

    def _take(self) -> list[Path]:
        """Move the journal aside for this process; with files dead replays left."""
        if not self.has_pending() and not self.has_aside():
            return []
        with self._locked():
            mine = self.path.with_name(f"{self.path.name}.replaying.{os.getpid()}")
            if self.has_pending():
                if mine.exists():
                    _append_file(self.path, mine)
                else:
                    self.path.replace(mine)
            return sorted(p for p in self._aside() if p == mine or not _alive(p))

    def _append_back(self, writes: list[PendingWrite]) -> None:
        with self._locked():
            _durable_append(self.path, "".join(_line(write) for write in writes))

    def _aside(self) -> Iterator[Path]:
        return self.path.parent.glob(f"{self.path.name}.replaying.*")


def _alive(aside: Path) -> bool:
    """Whether the process that moved ``aside`` away is still running."""
    try:
        pid = int(aside.name.rsplit(".", 1)[1])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _append_file(source: Path, target: Path) -> None:
    _durable_append(target, source.read_text(encoding="utf-8"))
    source.unlink()


def _durable_append(path: Path, text: str) -> None:
    """Append ``text`` to ``path``, on disk (flushed and fsynced) before returning."""
    with open(path, "a", encoding="utf-8") as journal:
        journal.write(text)
        journal.flush()
        os.fsync(journal.fileno())


def _line(write: PendingWrite) -> str:
    entry = {"kind": write.kind, "record": write.record}
    return json.dumps(entry, default=_encode, sort_keys=True) + "\n"


async def _apply(ledger: Ledger, write: PendingWrite) -> None:
    record = dict(write.record)
    try:
        if write.kind == "settle":
            await ledger.settle(**record)
        else:
            if isinstance(record.get("now"), str):
                record["now"] = datetime.fromisoformat(record["now"])
            await ledger.record_free(**record)
    except ValueError as error:
        logger.warning("dropped a pending ledger write of %s: %s", write.request_id, error)


def _encode(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot journal a {type(value).__name__}")


def _parse(text: str) -> Iterator[PendingWrite]:
    for line in text.splitlines():
        try:
            data = json.loads(line)
            kind = data["kind"]
            record = data["record"]
        except (ValueError, KeyError, TypeError):
            if line.strip():
                logger.warning("skipped an unreadable line of the pending-writes journal")
            continue
        if kind in ("settle", "free") and isinstance(record, dict):
            yield PendingWrite(kind, record)
