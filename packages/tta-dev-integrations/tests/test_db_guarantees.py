"""The guarantees of the database primitives that hostile cases once broke, one test per case.

* a write reported done is committed, even after a transaction was cancelled in its
  ``BEGIN`` (SQLite);
* a delete or update never widens: reserved PostgREST parameter names are refused as
  column names (Supabase);
* ``run_many`` is all or nothing on both SQL backends, inside a transaction or not;
* the one retry after a lost connection never repeats a side effect;
* request fields are type-checked;
* a misspelled double-quoted identifier is a syntax error on SQLite as on PostgreSQL;
* bad values are typed errors naming the parameter at fault;
* a DSN's password is found the way libpq finds it, so it never shows.
"""

from __future__ import annotations

import asyncio
import contextvars
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

import postgres_for_tests as pg
from postgrest_replay import Answer, PostgRESTReplay
from tta_dev_integrations.database import (
    ConstraintViolationError,
    DatabaseConnectionError,
    ParameterError,
    PostgreSQLPrimitive,
    Query,
    QueryError,
    QuerySyntaxError,
    SQLDatabasePrimitive,
    SQLitePrimitive,
    SupabasePrimitive,
    is_retry_safe,
    redact_dsn,
)
from tta_dev_integrations.database.dsn import dsn_secrets
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.testing import metric_value

PASSWORD = "pw-canary-5b1e"

# -- backends ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    with pg.test_database() as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> Iterator[str]:
    with pg.schema(pg_database) as schema_url:
        yield pg.url_with(schema_url, password=PASSWORD)


def _placeholder(db: SQLDatabasePrimitive[Any]) -> str:
    return "?" if isinstance(db, SQLitePrimitive) else "%s"


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.needs("postgresql"))]
)
async def sql_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A SQL primitive with ``users(id, email unique, age)``, on each backend."""
    db: SQLDatabasePrimitive[Any]
    if request.param == "sqlite":
        db = SQLitePrimitive(tmp_path / "g.db")
        await db.run("CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, age INTEGER)")
    else:
        db = PostgreSQLPrimitive(request.getfixturevalue("pg_url"), min_size=1, max_size=2)
        await db.run("CREATE TABLE users (id int PRIMARY KEY, email text UNIQUE, age int)")
    yield db
    await db.aclose()


# -- 1. a write reported done is done (SQLite) --------------------------------------------


async def test_a_write_after_a_transaction_cancelled_in_begin_is_committed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.db"
    db = SQLitePrimitive(path, max_connections=1, busy_timeout_s=2.0)
    await db.run("CREATE TABLE t (v INTEGER)")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock: db's BEGIN waits for it

    async def transaction() -> None:
        async with db.transaction():
            await db.run("INSERT INTO t VALUES (0)")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(transaction(), 0.2)
    holder.execute("ROLLBACK")  # the late BEGIN may now succeed
    await asyncio.sleep(0.3)
    assert await db.run("INSERT INTO t VALUES (1)") == 1
    assert await db.fetch_all("SELECT v FROM t") == [{"v": 1}]
    await db.aclose()
    assert holder.execute("SELECT v FROM t").fetchall() == [(1,)]
    holder.close()


async def test_cancelled_callers_never_lose_a_pooled_connection(tmp_path: Path) -> None:
    db = SQLitePrimitive(tmp_path / "slots.db", max_connections=2)
    await db.run("CREATE TABLE t (v INTEGER)")

    async def writer(value: int) -> None:
        async with db.transaction():
            await db.run("INSERT INTO t VALUES (?)", [value])
            await asyncio.sleep(0.01)

    tasks = [asyncio.create_task(writer(value)) for value in range(24)]
    for delay in (0.0, 0.005, 0.02):  # waiting for a slot, holding one, just handed one
        await asyncio.sleep(delay)
        for task in tasks[3::4]:
            task.cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    committed = [value for value, outcome in enumerate(outcomes) if outcome is None]
    assert any(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes)
    assert all(outcome is None or isinstance(outcome, asyncio.CancelledError)
               for outcome in outcomes)  # fmt: skip
    rows = await db.fetch_all("SELECT v FROM t ORDER BY v")
    assert [row["v"] for row in rows] == committed
    # Both connections are free again: two readers can hold one each at the same time.
    both = asyncio.Barrier(2)

    async def reader() -> None:
        async with db.transaction(mode="deferred"):
            await db.fetch_value("SELECT count(*) FROM t")
            await both.wait()

    await asyncio.wait_for(asyncio.gather(reader(), reader()), 5)
    await db.aclose()


async def test_a_caller_cancelled_as_it_is_handed_the_connection_passes_it_on(
    tmp_path: Path,
) -> None:
    db = SQLitePrimitive(tmp_path / "handoff.db", max_connections=1)
    async with db.transaction():  # this task holds the only connection
        # An empty context: outside the transaction, so it waits for the connection.
        waiting = asyncio.create_task(db.fetch_value("SELECT 1"), context=contextvars.Context())
        await asyncio.sleep(0.01)
    # Leaving the block handed the connection to `waiting`, which has not run yet.
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert await asyncio.wait_for(db.fetch_value("SELECT 2"), 5) == 2
    await db.aclose()


# -- 2. a delete never widens (Supabase) ----------------------------------------------------

RESERVED = ["select", "order", "limit", "offset", "or", "and", "not", "on_conflict", "columns"]


@pytest.fixture
def server() -> Iterator[PostgRESTReplay]:
    with PostgRESTReplay() as replay:
        yield replay


@pytest.fixture
async def supabase(server: PostgRESTReplay) -> AsyncIterator[SupabasePrimitive]:
    primitive = SupabasePrimitive(server.url, "sb-key-canary")
    yield primitive
    await primitive.aclose()


@pytest.mark.parametrize("name", RESERVED)
async def test_a_reserved_parameter_name_is_refused_as_a_column(
    server: PostgRESTReplay, supabase: SupabasePrimitive, name: str
) -> None:
    attempts: list[Callable[[], Awaitable[object]]] = [
        lambda: supabase.delete("todos", filters={name: 1}),
        lambda: supabase.delete("todos", filters=[(name, "eq", 1), ("id", "eq", 1)]),
        lambda: supabase.update("todos", {"done": True}, filters={name: "x"}),
        lambda: supabase.select("todos", filters={name: 1}),
        lambda: supabase.select("todos", [name]),
        lambda: supabase.select("todos", order=f"{name}.desc"),
        lambda: supabase.insert("todos", {name: 1}),
        lambda: supabase.upsert("todos", {"id": 1}, on_conflict=name),
        lambda: supabase.update("todos", {name: 1}, filters={"id": 1}),
    ]
    for attempt in attempts:
        with pytest.raises(ValueError, match="reserved"):
            await attempt()
    assert server.requests == []  # nothing reached the server


async def test_the_delete_guard_checks_the_row_filters_actually_sent(
    server: PostgRESTReplay, supabase: SupabasePrimitive
) -> None:
    server.add("DELETE", "/rest/v1/todos", Answer(200, [{"id": 3}]))
    await supabase.delete("todos", filters={"id": 3})
    assert server.last.params == [("id", "eq.3")]
    with pytest.raises(ValueError, match="every row"):
        await supabase.delete("todos", filters=[])
    server.add("DELETE", "/rest/v1/todos", Answer(200, []))
    await supabase.delete("todos", all_rows=True)
    assert server.last.params == []
    assert len(server.requests) == 2


# -- 3. run_many is all or nothing ------------------------------------------------------------


async def test_run_many_is_all_or_nothing(sql_db: SQLDatabasePrimitive[Any]) -> None:
    p = _placeholder(sql_db)
    insert = f"INSERT INTO users (id, email, age) VALUES ({p}, {p}, {p})"
    duplicate = [(1, "a@x", 30), (2, "b@x", 31), (3, "a@x", 32)]
    with pytest.raises(ConstraintViolationError):
        await sql_db.run_many(insert, duplicate)
    assert await sql_db.fetch_value("SELECT count(*) FROM users") == 0
    wrong_type = [(1, "a@x", 30), (2, "b@x", 31), (3, "c@x", {"not": "a number"})]
    with pytest.raises(QueryError):
        await sql_db.run_many(insert, wrong_type)
    assert await sql_db.fetch_value("SELECT count(*) FROM users") == 0
    assert await sql_db.run_many(insert, [(1, "a@x", 30), (2, "b@x", 31)]) == 2
    assert await sql_db.fetch_value("SELECT count(*) FROM users") == 2


async def test_a_failed_run_many_inside_a_transaction_leaves_nothing_and_the_rest_commits(
    sql_db: SQLDatabasePrimitive[Any],
) -> None:
    p = _placeholder(sql_db)
    insert = f"INSERT INTO users (id, email, age) VALUES ({p}, {p}, {p})"
    async with sql_db.transaction() as tx:
        await tx.run(insert, [1, "a@x", 30])
        with pytest.raises(ConstraintViolationError):
            await tx.run_many(insert, [(2, "b@x", 31), (3, "a@x", 32)])
        await tx.run(insert, [4, "d@x", 33])
    rows = await sql_db.fetch_all("SELECT id FROM users ORDER BY id")
    assert rows == [{"id": 1}, {"id": 4}]


# -- 4. retries never repeat side effects --------------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT nextval('s')",
        'SELECT "pg_advisory_lock"(1)',
        "SELECT pg_catalog.pg_advisory_lock(1)",
        "EXPLAIN (ANALYSE) SELECT nextval('s')",
        "EXPLAIN (ANALYZE true) SELECT 1",
        "EXPLAIN ANALYSE SELECT 1",
        "SELECT my_function_that_writes(1)",
        'SELECT "Audit"()',
        "SELECT * FROM users FOR UPDATE",
        "SELECT * FROM users FOR SHARE",
        "SELECT * INTO copy FROM users",
        "WITH gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone",
        "SELECT count(*) FROM (SELECT setval('s', 1)) AS x",
        "VALUES (nextval('s'))",
    ],
)
def test_a_statement_that_can_write_or_lock_is_not_retry_safe(sql: str) -> None:
    assert is_retry_safe(sql) is False


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT count(*) FROM users WHERE id IN (1, 2) AND age > 3",
        "SELECT coalesce(max(age), 0) AS m FROM users",
        "SELECT lower(email), length(email) FROM users WHERE EXISTS (SELECT 1)",
        "SELECT CAST(age AS numeric(10, 2)) FROM users",
        "SELECT sum(age) OVER (PARTITION BY email) FROM users",
        "EXPLAIN SELECT * FROM users",
    ],
)
def test_a_plain_read_stays_retry_safe(sql: str) -> None:
    assert is_retry_safe(sql) is True


@pytest.mark.needs("postgresql")
async def test_a_sequence_read_is_not_sent_again_after_the_backend_is_killed(
    pg_url: str,
) -> None:
    async with PostgreSQLPrimitive(pg_url, min_size=1, max_size=1) as db:
        await db.run("CREATE SEQUENCE s")
        for sql in ("SELECT nextval('s')", 'SELECT "pg_advisory_lock"(1)'):
            retries = metric_value("tta_db_retries_total", system="postgresql")
            pid = await db.fetch_value("SELECT pg_backend_pid()")
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
                await admin.execute("SELECT pg_terminate_backend(%s)", [pid])
                for _ in range(100):
                    cursor = await admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
                    )
                    row = await cursor.fetchone()
                    if row is not None and row[0] == 0:
                        break
                    await asyncio.sleep(0.02)
            with pytest.raises(DatabaseConnectionError):
                await db.fetch_value(sql)
            assert metric_value("tta_db_retries_total", system="postgresql") == retries
        # nextval was never run: the sequence starts where it began.
        assert await db.fetch_value("SELECT nextval('s')") == 1


# -- 5. request fields are type-checked ------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"retry_safe": "false"}, "retry_safe"),
        ({"retry_safe": 0}, "retry_safe"),
        ({"fetch": ["all"]}, "fetch"),
        ({"query": b"SELECT 1"}, "query"),
    ],
)
async def test_request_fields_are_type_checked(
    sql_db: SQLDatabasePrimitive[Any], fields: dict[str, Any], message: str
) -> None:
    request = {"query": "SELECT 1", **fields}
    with pytest.raises(ValueError, match=message):
        Query(**request)
    with pytest.raises(ValueError, match=message):
        await sql_db.query(request)


@pytest.mark.parametrize(
    "request_",
    [
        {"op": "delete", "table": "todos", "all_rows": "false"},
        {"op": "update", "table": "todos", "values": {"done": True}, "all_rows": 1},
        {"op": "select", "table": "todos", "single": "no"},
        {"op": "upsert", "table": "todos", "rows": {"id": 1}, "ignore_duplicates": "no"},
    ],
)
async def test_supabase_flags_are_bools(
    server: PostgRESTReplay, supabase: SupabasePrimitive, request_: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match="must be True or False"):
        await supabase.execute(request_, WorkflowContext())
    assert server.requests == []


# -- 6. a misspelled quoted identifier is an error ---------------------------------------------


@pytest.mark.parametrize(
    "sql",
    [
        'SELECT "emial" FROM users',
        "SELECT * FROM users WHERE \"emial\" = 'a@x'",
        'SELECT email FROM users ORDER BY "agee"',
    ],
)
async def test_a_misspelled_quoted_identifier_is_a_syntax_error(
    sql_db: SQLDatabasePrimitive[Any], sql: str
) -> None:
    await sql_db.run("INSERT INTO users (id, email, age) VALUES (1, 'a@x', 30)")
    with pytest.raises(QuerySyntaxError):
        await sql_db.fetch_all(sql)


async def test_quoted_identifiers_and_double_quotes_in_strings_still_work(
    sql_db: SQLDatabasePrimitive[Any],
) -> None:
    await sql_db.run("INSERT INTO users (id, email, age) VALUES (1, 'say \"hi\"', 30)")
    rows = await sql_db.fetch_all(
        'SELECT "email" AS "the ""mail""" FROM "users" WHERE "age" = 30 -- "comment"'
    )
    assert rows == [{'the "mail"': 'say "hi"'}]


async def test_ddl_refuses_a_misspelled_quoted_column(sql_db: SQLDatabasePrimitive[Any]) -> None:
    with pytest.raises(QuerySyntaxError):
        await sql_db.run('CREATE INDEX by_mail ON users ("emial")')


# -- 7. bad values are typed errors naming the parameter ---------------------------------------


async def test_bad_values_are_parameter_errors_naming_the_parameter(
    sql_db: SQLDatabasePrimitive[Any],
) -> None:
    p = _placeholder(sql_db)
    insert = f"INSERT INTO users (id, email, age) VALUES ({p}, {p}, {p})"
    with pytest.raises(ParameterError, match=r"params\[1\]") as surrogate:
        await sql_db.run(insert, [1, "bad \udc80 text", 30])
    assert surrogate.value.parameter == "params[1]"
    with pytest.raises(ParameterError, match=r"many\[1\]\[1\]"):
        await sql_db.run_many(insert, [(1, "a@x", 30), (2, "\ud800", 31)])
    with pytest.raises(ParameterError, match="query") as in_text:
        await sql_db.fetch_all("SELECT '\udc80'")
    assert in_text.value.parameter == "query"
    with pytest.raises(ParameterError, match=r"params\['e'\]"):
        await sql_db.fetch_all(
            "SELECT * FROM users WHERE email = " + ("%(e)s" if p == "%s" else ":e"),
            {"e": "\udc80"},
        )
    assert await sql_db.fetch_value("SELECT count(*) FROM users") == 0


async def test_an_integer_too_large_is_a_typed_error(sql_db: SQLDatabasePrimitive[Any]) -> None:
    p = _placeholder(sql_db)
    with pytest.raises(QueryError, match=r"params\[0\]|out of range"):
        await sql_db.run(f"INSERT INTO users (id, email, age) VALUES ({p}, 'a', 1)", [2**70])
    assert await sql_db.fetch_value("SELECT count(*) FROM users") == 0


async def test_sqlite_names_the_oversized_integer(tmp_path: Path) -> None:
    async with SQLitePrimitive(tmp_path / "big.db") as db:
        with pytest.raises(ParameterError, match=r"params\[0\].*64-bit"):
            await db.fetch_value("SELECT ?", [2**70])
        await db.run("CREATE TABLE n (v INTEGER)")
        with pytest.raises(ParameterError, match=r"many\[0\]\[0\]"):
            await db.run_many("INSERT INTO n VALUES (?)", [[-(2**64)]])


# -- 8. a DSN's password never shows -----------------------------------------------------------

SPECIAL = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~ "


def _url_passwords() -> list[tuple[str, str]]:
    """(DSN, the password libpq reads from it) for every URL-special character."""
    cases = []
    for char in SPECIAL:
        secret = f"pw{char}x9"
        cases.append((f"postgresql://u:{quote(secret, safe='')}@db:5432/main", secret))
        if char not in "/@% ":  # libpq ends the user part at the first '@' or '/', and
            # refuses a bare '%' or space (see the test after this one)
            cases.append((f"postgresql://u:{secret}@db:5432/main", secret))
        cases.append((f"postgresql://u@db/main?password={quote(secret, safe='')}", secret))
        escaped = secret.replace("\\", "\\\\").replace("'", "\\'")
        cases.append((f"host=db password='{escaped}' dbname=main", secret))
        if char not in " '\\":
            cases.append((f"host=db password={secret} dbname=main", secret))
    cases.append(("host=db password=pass\\ word dbname=main", "pass word"))
    return cases


@pytest.mark.parametrize(("dsn", "secret"), _url_passwords())
def test_the_password_is_found_the_way_libpq_finds_it(dsn: str, secret: str) -> None:
    decoded = conninfo_to_dict(dsn)
    assert decoded.get("password") == secret  # the case is what libpq reads
    assert secret in dsn_secrets(dsn)
    shown = redact_dsn(dsn)
    for form in {secret, quote(secret, safe=""), quote(secret)}:
        assert form not in shown, shown
    assert "***" in shown
    assert conninfo_to_dict(shown).get("dbname") == "main"  # the rest stays readable


@pytest.mark.parametrize("secret", ["pw%x9", "pw x9", "pw%zz x"])
def test_a_password_libpq_refuses_is_hidden_too(secret: str) -> None:
    dsn = f"postgresql://u:{secret}@db:5432/main"
    with pytest.raises(psycopg.ProgrammingError):
        conninfo_to_dict(dsn)
    assert redact_dsn(dsn) == "postgresql://u:***@db:5432/main"
    assert secret in dsn_secrets(dsn)


@pytest.mark.parametrize("secret", ["pw#x-canary", "pw?x-canary", "pw#x?y&z=1-canary"])
async def test_a_password_with_hash_or_question_mark_never_shows(secret: str) -> None:
    dsn = f"postgresql://u:{secret}@127.0.0.1:{pg.free_port()}/main"
    assert conninfo_to_dict(dsn)["password"] == secret
    db = PostgreSQLPrimitive(dsn, connect_timeout_s=2)
    assert secret not in repr(db)
    assert secret not in db.safe_url
    with pytest.raises(DatabaseConnectionError) as caught:
        await db.open()
    await db.aclose()
    error: BaseException | None = caught.value
    while error is not None:
        assert secret not in str(error)
        assert secret not in repr(error)
        error = error.__cause__ or error.__context__
