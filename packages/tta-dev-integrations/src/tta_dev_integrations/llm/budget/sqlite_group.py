"""Group commit for the SQLite ledger: transactions that queue up commit together.

A ledger's connection serves one transaction at a time. With many calls in flight,
each reservation would wait for the disk on its own COMMIT while the others queue
behind it. Instead, the transactions that queued while the connection was busy run
together in one write transaction, each inside a SAVEPOINT of its own (its error rolls
back only its own work), and share one COMMIT: one wait for the disk for all of them.
Nobody learns an outcome before that COMMIT is done.

A transaction alone in the queue runs by itself, exactly as without grouping. If the
shared transaction fails as a whole (the disk, the lock, a constraint), it is rolled
back and each of its transactions runs again by itself, so each gets its own outcome
and its own error.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

__all__ = ["Job", "JobQueue", "run_together"]

T = TypeVar("T")

Operation = Callable[[sqlite3.Connection], T]


class Job(Generic[T]):
    """One transaction waiting for the connection, and where its outcome goes."""

    __slots__ = ("done", "groupable", "operation")

    def __init__(self, operation: Operation[T], *, groupable: bool) -> None:
        self.operation = operation
        self.groupable = groupable
        self.done: Future[T] = Future()


def run_together(conn: sqlite3.Connection, jobs: list[Job[Any]]) -> bool:
    """Run ``jobs`` in one transaction with one COMMIT; ``False`` if it failed as a whole.

    On ``True`` every job's future holds its result or its own error (a job's error
    other than SQLite's rolled back its savepoint only). On ``False`` nothing was
    committed and no future was touched.
    """
    outcomes: list[tuple[Job[Any], Any, Exception | None]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for job in jobs:
            try:
                outcomes.append((job, job.operation(conn), None))
            except sqlite3.Error:
                raise  # the shared transaction itself may be broken: each runs alone
            except Exception as error:  # the job's own refusal, already rolled back
                outcomes.append((job, None, error))
        conn.execute("COMMIT")
    except sqlite3.Error:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        return False
    for job, result, refusal in outcomes:
        if refusal is None:
            job.done.set_result(result)
        else:
            job.done.set_exception(refusal)
    return True


class JobQueue:
    """The queue of one ledger's transactions, served by one worker at a time.

    ``serve`` is called (in a worker thread, through ``submit``) with every job that was
    waiting, in order; jobs whose callers gave up before they started are dropped.
    """

    def __init__(
        self,
        serve: Callable[[list[Job[Any]]], None],
        submit: Callable[[Callable[[], None]], object],
    ) -> None:
        self._serve = serve
        self._submit = submit
        self._lock = threading.Lock()
        self._jobs: list[Job[Any]] = []
        self._serving = False

    def put(self, job: Job[T]) -> Future[T]:
        """Queue ``job``; its future holds the outcome once it ran (and committed)."""
        with self._lock:
            self._jobs.append(job)
            if self._serving:
                return job.done
            self._serving = True
        try:
            self._submit(self._drain)
        except BaseException:
            with self._lock:
                self._serving = False
            raise
        return job.done

    def _drain(self) -> None:
        while True:
            with self._lock:
                jobs, self._jobs = self._jobs, []
                if not jobs:
                    self._serving = False
                    return
            started = [job for job in jobs if job.done.set_running_or_notify_cancel()]
            try:
                self._serve(started)
            except Exception as error:  # a bug in serving: nobody may wait forever
                for job in started:
                    if not job.done.done():
                        job.done.set_exception(error)
