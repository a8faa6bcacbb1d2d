"""SQLitePrimitive on real files: fetch modes, errors, transactions, concurrent writers."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import textwrap
from pathlib import Path

import pytest

from tta_dev_integrations.database import (
    ConstraintViolationError,
    DatabaseConnectionError,
    NotFoundError,
    Query,
    QuerySyntaxError,
    QueryTimeoutError,
    SQLitePrimitive,
    TransactionError,
    TransactionPrimitive,
)
from tta_dev_primitives.core.base import LambdaPrimitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.testing import capture_spans, metric_value


@pytest.fixture
async def db(tmp_path: Path) -> SQLitePrimitive:
    primitive = SQLitePrimitive(tmp_path / "app.db")
    await primitive.run(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE,"
        " age INTEGER CONSTRAINT adult CHECK (age >= 18))"
    )
    await primitive.run(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY,"
        " user_id INTEGER NOT NULL REFERENCES users(id), total INTEGER)"
    )
    yield primitive  # type: ignore[misc]
    await primitive.aclose()


def rows_on_disk(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql).fetchall()


async def test_fetch_modes_and_executemany(db: SQLitePrimitive, tmp_path: Path) -> None:
    added = await db.run_many(
        "INSERT INTO users (email, age) VALUES (?, ?)", [("a@x", 30), ("b@x", 40), ("c@x", 50)]
    )
    assert added == 3
    assert await db.fetch_all("SELECT email FROM users WHERE age > ? ORDER BY id", [35]) == [
        {"email": "b@x"},
        {"email": "c@x"},
    ]
    assert await db.fetch_one("SELECT id, email FROM users WHERE email = :e", {"e": "a@x"}) == {
        "id": 1,
        "email": "a@x",
    }
    assert await db.fetch_value("SELECT count(*) FROM users") == 3
    assert await db.run("UPDATE users SET age = age + 1 WHERE age < ?", [45]) == 2
    assert await db.query({"query": "SELECT age FROM users WHERE id = ?", "params": [1],
                           "fetch": "value"}) == 31  # fmt: skip
    assert await db.query("SELECT id FROM users ORDER BY id") == [{"id": 1}, {"id": 2}, {"id": 3}]
    assert await db.fetch_all("SELECT * FROM users WHERE id = ?", [99]) == []
    with pytest.raises(NotFoundError):
        await db.fetch_one("SELECT * FROM users WHERE id = ?", [99])
    with pytest.raises(NotFoundError):
        await db.fetch_value("SELECT age FROM users WHERE id = ?", [99])
    assert rows_on_disk(tmp_path / "app.db", "SELECT count(*) FROM users") == [(3,)]


async def test_connection_settings(db: SQLitePrimitive) -> None:
    assert await db.fetch_value("PRAGMA journal_mode") == "wal"
    assert await db.fetch_value("PRAGMA foreign_keys") == 1
    assert await db.fetch_value("PRAGMA busy_timeout") == 5000


@pytest.mark.parametrize(
    ("sql", "params", "kind", "constraint"),
    [
        ("INSERT INTO users (email, age) VALUES (?, ?)", ["a@x", 20], "unique", "users.email"),
        ("INSERT INTO users (email, age) VALUES (?, ?)", [None, 20], "not_null", "users.email"),
        ("INSERT INTO users (email, age) VALUES (?, ?)", ["k@x", 3], "check", "adult"),
        ("INSERT INTO users (id, email) VALUES (?, ?)", [1, "z@x"], "primary_key", "users.id"),
        ("INSERT INTO orders (user_id, total) VALUES (?, ?)", [42, 1], "foreign_key", None),
    ],
)
async def test_constraint_violations_are_typed(
    db: SQLitePrimitive, sql: str, params: list[object], kind: str, constraint: str | None
) -> None:
    await db.run("INSERT INTO users (id, email, age) VALUES (1, 'a@x', 20)")
    with pytest.raises(ConstraintViolationError) as caught:
        await db.run(sql, params)
    assert caught.value.kind == kind
    assert caught.value.constraint == constraint
    assert await db.fetch_value("SELECT count(*) FROM users") == 1
    assert await db.fetch_value("SELECT count(*) FROM orders") == 0


@pytest.mark.parametrize("sql", ["SELEC 1", "SELECT * FROM nowhere", "SELECT nope FROM users"])
async def test_bad_sql_is_a_syntax_error(db: SQLitePrimitive, sql: str) -> None:
    with pytest.raises(QuerySyntaxError):
        await db.fetch_all(sql)


async def test_statement_timeout_interrupts_a_long_query(tmp_path: Path) -> None:
    async with SQLitePrimitive(tmp_path / "t.db", statement_timeout_s=0.2) as db:
        with pytest.raises(QueryTimeoutError, match="statement_timeout_s"):
            await db.fetch_value(
                "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r)"
                " SELECT count(*) FROM r"
            )
        assert await db.fetch_value("SELECT 1") == 1  # the connection is still good


async def test_busy_timeout_exhausted_is_a_timeout(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    async with SQLitePrimitive(path, busy_timeout_s=0.1) as db:
        await db.run("CREATE TABLE t (x INTEGER)")
        blocker = sqlite3.connect(path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")
            with pytest.raises(QueryTimeoutError, match="busy_timeout_s"):
                await db.run("INSERT INTO t VALUES (1)")
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert await db.run("INSERT INTO t VALUES (1)") == 1


async def test_transaction_commits_and_rolls_back(db: SQLitePrimitive, tmp_path: Path) -> None:
    async with db.transaction() as tx:
        await tx.run("INSERT INTO users (email, age) VALUES (?, ?)", ["a@x", 20])
        await db.run("INSERT INTO users (email, age) VALUES (?, ?)", ["b@x", 20])  # same tx
        on_disk = rows_on_disk(tmp_path / "app.db", "SELECT count(*) FROM users")
        assert on_disk == [(0,)]  # not visible outside before the commit
    assert rows_on_disk(tmp_path / "app.db", "SELECT count(*) FROM users") == [(2,)]

    async def failing_transaction() -> None:
        async with db.transaction() as failing:
            await failing.run("INSERT INTO users (email, age) VALUES (?, ?)", ["c@x", 20])
            await failing.run("INSERT INTO users (email, age) VALUES (?, ?)", ["a@x", 20])

    with pytest.raises(ConstraintViolationError):
        await failing_transaction()
    assert rows_on_disk(tmp_path / "app.db", "SELECT email FROM users ORDER BY id") == [
        ("a@x",),
        ("b@x",),
    ]
    with pytest.raises(TransactionError, match="ended"):
        await tx.run("SELECT 1")


async def test_nested_transaction_is_a_savepoint(db: SQLitePrimitive) -> None:
    async def failing_savepoint() -> None:
        async with db.transaction() as inner:
            assert inner.savepoint is not None
            await db.run("INSERT INTO users (email, age) VALUES ('inner@x', 20)")
            raise RuntimeError("inner step failed")

    async with db.transaction():
        await db.run("INSERT INTO users (email, age) VALUES ('outer@x', 20)")
        with pytest.raises(RuntimeError):
            await failing_savepoint()
        async with db.transaction():
            await db.run("INSERT INTO users (email, age) VALUES ('kept@x', 20)")
    emails = await db.fetch_all("SELECT email FROM users ORDER BY id")
    assert emails == [{"email": "outer@x"}, {"email": "kept@x"}]


async def test_transaction_primitive_runs_a_composed_workflow(db: SQLitePrimitive) -> None:
    await db.run("INSERT INTO users (id, email, age) VALUES (1, 'a@x', 30)")

    async def add_order(total: int) -> int:
        return await db.run("INSERT INTO orders (user_id, total) VALUES (1, ?)", [total])

    async def add_bad_order(_: int) -> int:
        return await db.run("INSERT INTO orders (user_id, total) VALUES (99, 1)")

    good = TransactionPrimitive(db, LambdaPrimitive(add_order) >> _counter(db))
    assert await good.execute(10, WorkflowContext()) == 1  # the count sees the insert

    bad = TransactionPrimitive(db, LambdaPrimitive(add_order) >> LambdaPrimitive(add_bad_order))
    with pytest.raises(ConstraintViolationError):
        await bad.execute(20, WorkflowContext())
    assert await db.fetch_all("SELECT total FROM orders") == [{"total": 10}]


def _counter(db: SQLitePrimitive) -> LambdaPrimitive[int, int]:
    async def count_orders(_: int) -> int:
        return int(await db.fetch_value("SELECT count(*) FROM orders"))

    return LambdaPrimitive(count_orders)


async def test_parallel_branches_share_the_transaction_and_roll_back_together(
    db: SQLitePrimitive,
) -> None:
    await db.run("INSERT INTO users (id, email, age) VALUES (1, 'a@x', 30)")

    async def order(total: int) -> int:
        return await db.run("INSERT INTO orders (user_id, total) VALUES (1, ?)", [total])

    async def fail(_: int) -> int:
        await asyncio.sleep(0.01)
        raise RuntimeError("one branch failed")

    both = TransactionPrimitive(db, LambdaPrimitive(order) | LambdaPrimitive(order))
    assert await both.execute(5, WorkflowContext()) == [1, 1]
    broken = TransactionPrimitive(db, LambdaPrimitive(order) | LambdaPrimitive(fail))
    with pytest.raises(RuntimeError):
        await broken.execute(7, WorkflowContext())
    assert await db.fetch_all("SELECT total FROM orders") == [{"total": 5}, {"total": 5}]


async def test_concurrent_nested_transactions_are_refused(db: SQLitePrimitive) -> None:
    async def savepoint_branch() -> None:
        async with db.transaction():
            await db.run("INSERT INTO users (email, age) VALUES (?, 20)", [str(id(object()))])
            await asyncio.sleep(0.05)

    async def two_branches() -> None:
        async with db.transaction():
            outcomes = await asyncio.gather(
                savepoint_branch(), savepoint_branch(), return_exceptions=True
            )
            assert outcomes[0] is None
            assert isinstance(outcomes[1], TransactionError)
            raise outcomes[1]

    with pytest.raises(TransactionError, match="already open"):
        await two_branches()
    assert await db.fetch_value("SELECT count(*) FROM users") == 0


async def test_options_of_a_nested_transaction_are_refused(db: SQLitePrimitive) -> None:
    with pytest.raises(ValueError, match="mode"):
        db.transaction(mode="sometimes")
    with pytest.raises(TypeError, match="unknown"):
        db.transaction(isolation="serializable")
    async with db.transaction(mode="deferred"):
        with pytest.raises(TransactionError, match="outermost"):
            async with db.transaction(mode="exclusive"):
                pass


async def test_cancelled_transaction_rolls_back(db: SQLitePrimitive) -> None:
    started = asyncio.Event()

    async def slow() -> None:
        async with db.transaction():
            await db.run("INSERT INTO users (email, age) VALUES ('c@x', 20)")
            started.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(slow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.fetch_value("SELECT count(*) FROM users") == 0


async def test_concurrent_writer_tasks_never_fail_with_database_locked(tmp_path: Path) -> None:
    path = tmp_path / "many.db"
    writers = [SQLitePrimitive(path, max_connections=2) for _ in range(4)]
    await writers[0].run("CREATE TABLE hits (writer INTEGER, n INTEGER)")

    async def write(index: int, db: SQLitePrimitive) -> None:
        for n in range(25):
            if n % 2:
                await db.run("INSERT INTO hits VALUES (?, ?)", [index, n])
            else:
                async with db.transaction() as tx:  # read, then write: BEGIN IMMEDIATE
                    count = await tx.fetch_value("SELECT count(*) FROM hits WHERE writer = ?",
                                                 [index])  # fmt: skip
                    await tx.run("INSERT INTO hits VALUES (?, ?)", [index, count])

    try:
        await asyncio.gather(*(write(i, db) for i, db in enumerate(writers)))
    finally:
        for db in writers:
            await db.aclose()
    assert rows_on_disk(path, "SELECT count(*) FROM hits") == [(100,)]


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from tta_dev_integrations.database import SQLitePrimitive

    async def main(path, index):
        async with SQLitePrimitive(path, busy_timeout_s=30) as db:
            for n in range(40):
                async with db.transaction() as tx:
                    total = await tx.fetch_value("SELECT coalesce(max(n), 0) FROM hits")
                    await tx.run("INSERT INTO hits VALUES (?, ?)", [index, total + 1])

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_concurrent_writer_processes_serialise_on_the_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with SQLitePrimitive(path) as db:
        await db.run("CREATE TABLE hits (writer INTEGER, n INTEGER UNIQUE)")
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-W", "error", "-c", WRITER, str(path), str(index),
            stderr=asyncio.subprocess.PIPE,
        )
        for index in range(4)
    ]  # fmt: skip
    errors = [(await process.communicate())[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    # Each transaction read the maximum and wrote the next: no two saw the same maximum.
    assert rows_on_disk(path, "SELECT count(*), min(n), max(n) FROM hits") == [(160, 1, 160)]


async def test_spans_and_metrics(db: SQLitePrimitive) -> None:
    before = metric_value(
        "tta_db_operation_duration_seconds_count",
        system="sqlite", operation="INSERT", outcome="success",
    )  # fmt: skip
    with capture_spans() as spans:
        await db.execute(
            Query("INSERT INTO users (email, age) VALUES ('lit@x', 42)", fetch="none"),
            WorkflowContext(),
        )
        with pytest.raises(QuerySyntaxError):
            await db.fetch_all("SELEC 'secret-literal'")
    client = spans.one("INSERT app.db")
    attributes = dict(client.attributes or {})
    assert attributes["db.system.name"] == "sqlite"
    assert attributes["db.operation.name"] == "INSERT"
    assert attributes["db.query.text"] == "INSERT INTO users (email, age) VALUES (?, ?)"
    assert attributes["db.namespace"] == "app.db"
    assert spans.tree()[:2] == ["SQLitePrimitive", "  INSERT app.db"]
    failed = spans.one("OTHER app.db")
    assert "secret-literal" not in repr(dict(failed.attributes or {}))
    assert dict(failed.attributes or {})["error.type"] == "QuerySyntaxError"
    after = metric_value(
        "tta_db_operation_duration_seconds_count",
        system="sqlite", operation="INSERT", outcome="success",
    )  # fmt: skip
    assert after == before + 1


async def test_closed_primitive_and_bad_paths(tmp_path: Path) -> None:
    db = SQLitePrimitive(tmp_path / "c.db")
    await db.open()
    await db.aclose()
    with pytest.raises(DatabaseConnectionError, match="closed"):
        await db.fetch_value("SELECT 1")
    missing = SQLitePrimitive(tmp_path / "missing" / "dir" / "x.db")
    with pytest.raises(DatabaseConnectionError, match="folder"):
        await missing.fetch_value("SELECT 1")
    await missing.aclose()


async def test_memory_database_and_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with SQLitePrimitive(":memory:", max_connections=8) as memory:
        assert memory.max_connections == 1
        await memory.run("CREATE TABLE t (x)")
        await memory.run("INSERT INTO t VALUES (1)")
        assert await memory.fetch_value("SELECT count(*) FROM t") == 1
    from tta_secrets.loader import reset_default_loader

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/from_url.db")
    monkeypatch.setenv("TTA_DOTENV", "/nonexistent/.env")
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    reset_default_loader()
    try:
        async with SQLitePrimitive() as db:
            await db.run("CREATE TABLE t (x)")
        assert (tmp_path / "from_url.db").exists()
        monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
        reset_default_loader()
        with pytest.raises(ValueError, match="sqlite:///"):
            SQLitePrimitive()
    finally:
        reset_default_loader()
