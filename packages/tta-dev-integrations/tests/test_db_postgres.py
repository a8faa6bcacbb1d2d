"""PostgreSQLPrimitive against a real server: fetch modes, typed errors, the retry rule,
transactions, timeouts, telemetry, and a password that never shows."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import psycopg
import pytest

import postgres_for_tests as pg
from tta_dev_integrations.database import (
    ConstraintViolationError,
    DatabaseConnectionError,
    NotFoundError,
    PostgreSQLPrimitive,
    Query,
    QueryError,
    QuerySyntaxError,
    QueryTimeoutError,
    TransactionPrimitive,
)
from tta_dev_primitives.core.base import LambdaPrimitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.testing import capture_spans, metric_value

pytestmark = pytest.mark.needs("postgresql")

PASSWORD = "pw-canary-7f3a9"  # trust authentication ignores it; it must never show


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    with pg.test_database() as url:
        yield url


@pytest.fixture
def url(database_url: str) -> Iterator[str]:
    with pg.schema(database_url) as schema_url:
        yield pg.url_with(schema_url, password=PASSWORD)


@pytest.fixture
async def db(url: str) -> PostgreSQLPrimitive:
    primitive = PostgreSQLPrimitive(url, min_size=1, max_size=1)
    await primitive.run(
        "CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL"
        " CONSTRAINT users_email_key UNIQUE, age int CONSTRAINT adult CHECK (age >= 18))"
    )
    await primitive.run(
        "CREATE TABLE orders (id serial PRIMARY KEY, user_id int NOT NULL"
        " CONSTRAINT orders_user_fk REFERENCES users(id), total int)"
    )
    yield primitive  # type: ignore[misc]
    await primitive.aclose()


def count_rows(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])


async def test_fetch_modes_and_executemany(db: PostgreSQLPrimitive, url: str) -> None:
    added = await db.run_many(
        "INSERT INTO users (email, age) VALUES (%s, %s)", [("a@x", 30), ("b@x", 40), ("c@x", 50)]
    )
    assert added == 3
    assert await db.fetch_all("SELECT email FROM users WHERE age > %s ORDER BY id", [35]) == [
        {"email": "b@x"},
        {"email": "c@x"},
    ]
    assert await db.fetch_one("SELECT id, email FROM users WHERE email = %(e)s", {"e": "a@x"}) == {
        "id": 1,
        "email": "a@x",
    }
    assert await db.fetch_value("SELECT count(*) FROM users") == 3
    assert await db.run("UPDATE users SET age = age + 1 WHERE age < %s", [45]) == 2
    assert await db.query({"query": "SELECT 1 AS one", "fetch": "one"}) == {"one": 1}
    assert await db.fetch_all("INSERT INTO users (email) VALUES ('d@x')") == []
    with pytest.raises(NotFoundError):
        await db.fetch_one("SELECT * FROM users WHERE id = %s", [99])
    with pytest.raises(NotFoundError):
        await db.fetch_value("SELECT age FROM users WHERE id = %s", [99])
    assert count_rows(url, "users") == 4


@pytest.mark.parametrize(
    ("sql", "params", "kind", "constraint"),
    [
        ("INSERT INTO users (email, age) VALUES (%s, %s)", ["a@x", 20], "unique",
         "users_email_key"),
        ("INSERT INTO users (email, age) VALUES (%s, %s)", ["k@x", 3], "check", "adult"),
        ("INSERT INTO orders (user_id, total) VALUES (%s, %s)", [42, 1], "foreign_key",
         "orders_user_fk"),
        ("INSERT INTO users (email, age) VALUES (%s, %s)", [None, 20], "not_null", None),
    ],
)  # fmt: skip
async def test_constraint_violations_are_typed_with_the_constraint_name(
    db: PostgreSQLPrimitive, sql: str, params: list[object], kind: str, constraint: str | None
) -> None:
    await db.run("INSERT INTO users (email, age) VALUES ('a@x', 20)")
    with pytest.raises(ConstraintViolationError) as caught:
        await db.run(sql, params)
    assert caught.value.kind == kind
    assert caught.value.constraint == constraint
    assert caught.value.code is not None
    assert caught.value.code.startswith("23")
    if kind == "not_null":
        assert (caught.value.table, caught.value.column) == ("users", "email")
    assert await db.fetch_value("SELECT count(*) FROM users") == 1


@pytest.mark.parametrize("sql", ["SELEC 1", "SELECT * FROM nowhere", "SELECT nope FROM users"])
async def test_bad_sql_is_a_syntax_error(db: PostgreSQLPrimitive, sql: str) -> None:
    with pytest.raises(QuerySyntaxError):
        await db.fetch_all(sql)


async def test_statement_and_lock_timeouts(url: str) -> None:
    async with PostgreSQLPrimitive(url, statement_timeout_s=0.2) as db:
        with pytest.raises(QueryTimeoutError) as slow:
            await db.fetch_value("SELECT pg_sleep(5)")
        assert slow.value.code == "57014"
    async with PostgreSQLPrimitive(url, lock_timeout_s=0.2) as db:
        await db.run("CREATE TABLE locked (id int PRIMARY KEY, v int)")
        await db.run("INSERT INTO locked VALUES (1, 0)")
        async with await psycopg.AsyncConnection.connect(url) as holder:
            await holder.execute("UPDATE locked SET v = 1 WHERE id = 1")  # row lock held
            with pytest.raises(QueryTimeoutError) as waiting:
                await db.run("UPDATE locked SET v = 2 WHERE id = 1")
            assert waiting.value.code == "55P03"
            await holder.rollback()
        assert await db.fetch_value("SELECT v FROM locked") == 0


async def _kill_backend(url: str, pid: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        # Wait until the server has actually let go of it.
        for _ in range(100):
            cursor = await admin.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s",
                                         [pid])  # fmt: skip
            row = await cursor.fetchone()
            if row is not None and row[0] == 0:
                return
            await asyncio.sleep(0.02)


async def test_a_read_is_retried_once_after_the_backend_is_killed(
    db: PostgreSQLPrimitive, url: str
) -> None:
    await db.run("INSERT INTO users (email, age) VALUES ('a@x', 20)")
    retries = metric_value("tta_db_retries_total", system="postgresql")
    pid = await db.fetch_value("SELECT pg_backend_pid()")
    await _kill_backend(url, pid)
    assert await db.fetch_value("SELECT count(*) FROM users") == 1
    assert await db.fetch_value("SELECT pg_backend_pid()") != pid
    assert metric_value("tta_db_retries_total", system="postgresql") == retries + 1


async def test_a_write_is_not_retried_after_the_backend_is_killed(
    db: PostgreSQLPrimitive, url: str
) -> None:
    retries = metric_value("tta_db_retries_total", system="postgresql")
    pid = await db.fetch_value("SELECT pg_backend_pid()")
    await _kill_backend(url, pid)
    with pytest.raises(DatabaseConnectionError) as caught:
        await db.run("INSERT INTO users (email, age) VALUES ('w@x', 20)")
    assert caught.value.connection_lost
    assert "not" in str(caught.value)
    assert metric_value("tta_db_retries_total", system="postgresql") == retries
    assert count_rows(url, "users") == 0
    # A read that writes (nextval) and a read marked unsafe are not retried either.
    for request in (
        Query("SELECT nextval('users_id_seq')", fetch="value"),
        Query("SELECT 1", fetch="value", retry_safe=False),
    ):
        pid = await db.fetch_value("SELECT pg_backend_pid()")
        await _kill_backend(url, pid)
        with pytest.raises(DatabaseConnectionError):
            await db.query(request)
    assert await db.fetch_value("SELECT 1") == 1  # and the pool recovered


async def test_nothing_is_retried_inside_a_transaction(db: PostgreSQLPrimitive, url: str) -> None:
    async def killed_mid_transaction() -> None:
        async with db.transaction() as tx:
            await tx.run("INSERT INTO users (email, age) VALUES ('t@x', 20)")
            pid = await tx.fetch_value("SELECT pg_backend_pid()")
            await _kill_backend(url, pid)
            await tx.fetch_value("SELECT count(*) FROM users")

    with pytest.raises(DatabaseConnectionError):
        await killed_mid_transaction()
    assert count_rows(url, "users") == 0
    assert await db.fetch_value("SELECT count(*) FROM users") == 0


async def test_transactions_commit_roll_back_and_nest(db: PostgreSQLPrimitive, url: str) -> None:
    async def failing_savepoint() -> None:
        async with db.transaction():
            await db.run("INSERT INTO users (email, age) VALUES ('inner@x', 20)")
            raise RuntimeError("inner failed")

    async def failing_transaction() -> None:
        async with db.transaction() as tx:
            await tx.run("INSERT INTO users (email, age) VALUES ('b@x', 20)")
            await tx.run("INSERT INTO users (email, age) VALUES ('a@x', 20)")

    async with db.transaction() as tx:
        await tx.run("INSERT INTO users (email, age) VALUES ('a@x', 20)")
        assert count_rows(url, "users") == 0  # not committed yet
        with pytest.raises(RuntimeError):
            await failing_savepoint()
    assert count_rows(url, "users") == 1
    with pytest.raises(ConstraintViolationError):
        await failing_transaction()
    assert await db.fetch_all("SELECT email FROM users") == [{"email": "a@x"}]


async def test_transaction_options(db: PostgreSQLPrimitive) -> None:
    async with db.transaction(isolation="serializable", read_only=True) as tx:
        level = await tx.fetch_value("SHOW transaction_isolation")
        assert level == "serializable"
        with pytest.raises(QueryError) as refused:
            await tx.run("INSERT INTO users (email) VALUES ('r@x')")
        assert refused.value.code == "25006"
    with pytest.raises(ValueError, match="isolation"):
        db.transaction(isolation="chaos")
    with pytest.raises(TypeError, match="unknown"):
        db.transaction(mode="immediate")


async def test_transaction_primitive_with_parallel_branches(db: PostgreSQLPrimitive) -> None:
    await db.run("INSERT INTO users (id, email, age) VALUES (1, 'a@x', 30)")

    async def order(total: int) -> int:
        return await db.run("INSERT INTO orders (user_id, total) VALUES (1, %s)", [total])

    async def bad_order(_: int) -> int:
        await asyncio.sleep(0.01)
        return await db.run("INSERT INTO orders (user_id, total) VALUES (404, 1)")

    ok = TransactionPrimitive(db, LambdaPrimitive(order) | LambdaPrimitive(order))
    assert await ok.execute(5, WorkflowContext()) == [1, 1]
    broken = TransactionPrimitive(db, LambdaPrimitive(order) | LambdaPrimitive(bad_order))
    with pytest.raises(ConstraintViolationError):
        await broken.execute(7, WorkflowContext())
    assert await db.fetch_all("SELECT total FROM orders") == [{"total": 5}, {"total": 5}]


async def test_spans_carry_the_database_conventions_and_no_values(
    db: PostgreSQLPrimitive, database_url: str
) -> None:
    with capture_spans() as spans:
        await db.execute(
            Query("SELECT * FROM users WHERE email = 'someone@secret.example'", fetch="all"),
            WorkflowContext(),
        )
    dbname = pg.conninfo_to_dict(database_url)["dbname"]
    client = spans.one(f"SELECT {dbname}")
    attributes = dict(client.attributes or {})
    assert attributes["db.system.name"] == "postgresql"
    assert attributes["db.system"] == "postgresql"
    assert attributes["db.operation.name"] == "SELECT"
    assert attributes["db.namespace"] == dbname
    assert attributes["db.query.text"] == "SELECT * FROM users WHERE email = ?"
    assert attributes["server.address"] == "127.0.0.1"
    assert isinstance(attributes["server.port"], int)
    assert str(client.kind) == "SpanKind.CLIENT"


async def test_the_password_never_shows(url: str) -> None:
    assert PASSWORD in url
    async with PostgreSQLPrimitive(url) as db:
        assert PASSWORD not in repr(db)
        assert PASSWORD not in db.safe_url
        with capture_spans() as spans, pytest.raises(QuerySyntaxError):
            await db.fetch_all("SELEC 1")
        for span in spans.spans:
            assert PASSWORD not in repr(dict(span.attributes or {}))
            assert PASSWORD not in str(span.status.description)
    dead = pg.url_with(url, port=str(pg.free_port()))
    unreachable = PostgreSQLPrimitive(dead, connect_timeout_s=2)
    with pytest.raises(DatabaseConnectionError) as caught:
        await unreachable.open()
    await unreachable.aclose()
    error: BaseException | None = caught.value
    while error is not None:
        assert PASSWORD not in str(error)
        assert PASSWORD not in repr(error)
        error = error.__cause__ or error.__context__


async def test_a_process_exits_cleanly_with_warnings_as_errors(url: str) -> None:
    script = (
        "import asyncio, sys\n"
        "from tta_dev_integrations.database import PostgreSQLPrimitive\n"
        "async def main():\n"
        # -X dev also reports any step over 0.1 s: on a loaded machine that is load,
        # not a fault; this test is about warnings and a clean exit.
        "    asyncio.get_running_loop().slow_callback_duration = 10\n"
        "    async with PostgreSQLPrimitive(sys.argv[1], min_size=2) as db:\n"
        "        async with db.transaction() as tx:\n"
        "            await tx.fetch_value('SELECT 1')\n"
        "        print(await db.fetch_value('SELECT 41 + 1'))\n"
        "asyncio.run(main())\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-W", "error", "-X", "dev", "-c", script, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    assert out.decode().strip() == "42"
    assert err.decode() == ""


async def test_closed_primitive_refuses_calls_and_missing_url_says_how(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = PostgreSQLPrimitive(url)
    assert await db.fetch_value("SELECT 1") == 1
    await db.aclose()
    await db.aclose()
    with pytest.raises(DatabaseConnectionError, match="closed"):
        await db.fetch_value("SELECT 1")
    from tta_secrets.loader import reset_default_loader

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("TTA_DOTENV", "/nonexistent/.env")
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    reset_default_loader()
    try:
        with pytest.raises(ValueError, match="DATABASE_URL"):
            PostgreSQLPrimitive()
        monkeypatch.setenv("DATABASE_URL", url)
        reset_default_loader()
        async with PostgreSQLPrimitive() as from_setting:
            assert await from_setting.fetch_value("SELECT 2") == 2
    finally:
        reset_default_loader()
