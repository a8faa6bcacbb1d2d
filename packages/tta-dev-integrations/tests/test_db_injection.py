"""SQL injection attempts through every parameter and identifier path leave the database
unchanged: same tables, same rows; hostile text is stored or compared as plain data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import postgres_for_tests as pg
from tta_dev_integrations.database import (
    DatabaseError,
    Identifier,
    PostgreSQLPrimitive,
    Query,
    QueryError,
    SQLDatabasePrimitive,
    SQLitePrimitive,
    quote_identifier,
)

HOSTILE = [
    "'; DROP TABLE accounts; --",
    "x' OR '1'='1",
    "1 OR 1=1",
    "1; DELETE FROM accounts",
    "\\'; UPDATE accounts SET balance = 0; --",
    '"; DROP TABLE accounts; --',
    "$$; DROP TABLE accounts; $$",
    "%s %(x)s ? :name",
    "accounts",
    "accounts; DROP TABLE accounts",
    'accounts" WHERE 1=1; DROP TABLE "accounts',
    "' UNION SELECT owner, balance, id FROM accounts --",
]
ROWS = [(1, "ada", 100), (2, "bob", 50)]


@dataclass
class Backend:
    db: SQLDatabasePrimitive[Any]
    placeholder: str  # positional
    named: str  # a named placeholder for "v"
    tables_sql: str

    def sql(self, text: str) -> str:
        return text.replace("{p}", self.placeholder).replace("{v}", self.named)


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    with pg.test_database() as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.needs("postgresql"))]
)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        db: SQLDatabasePrimitive[Any] = SQLitePrimitive(tmp_path / "inj.db")
        backend = Backend(db, "?", ":v", "SELECT name FROM sqlite_master WHERE type = 'table'")
        await _seed(backend)
        yield backend
        await db.aclose()
        return
    database_url = request.getfixturevalue("pg_database")
    with pg.schema(database_url) as url:
        db = PostgreSQLPrimitive(url, max_size=2)
        backend = Backend(
            db, "%s", "%(v)s",
            "SELECT table_name AS name FROM information_schema.tables"
            " WHERE table_schema = current_schema()",
        )  # fmt: skip
        await _seed(backend)
        yield backend
        await db.aclose()


async def _seed(backend: Backend) -> None:
    await backend.db.run(
        "CREATE TABLE accounts (id integer PRIMARY KEY, owner text, balance integer)"
    )
    await backend.db.run("CREATE TABLE notes (body text)")
    await backend.db.run_many(backend.sql("INSERT INTO accounts VALUES ({p}, {p}, {p})"), ROWS)


async def _state(backend: Backend) -> tuple[list[str], list[dict[str, Any]]]:
    tables = sorted(row["name"] for row in await backend.db.fetch_all(backend.tables_sql))
    rows = await backend.db.fetch_all("SELECT * FROM accounts ORDER BY id")
    return tables, rows


async def _attempt(call: Any) -> None:
    with suppress(DatabaseError):  # refusing is fine; changing something is not
        await call


async def test_values_through_every_parameter_path_are_data(backend: Backend) -> None:
    before = await _state(backend)
    db = backend.db
    for text in HOSTILE:
        assert (
            await db.fetch_all(backend.sql("SELECT * FROM accounts WHERE owner = {p}"), [text])
            == []
        )
        assert await db.fetch_all(backend.sql("SELECT * FROM accounts WHERE owner = {v}"),
                                  {"v": text}) == []  # fmt: skip
        await _attempt(db.fetch_value(backend.sql("SELECT count(*) FROM accounts WHERE id = {p}"),
                                      [text]))  # fmt: skip
        assert await db.query(Query(backend.sql("SELECT {p} AS echo"), [text], "value")) == text
        await db.run(backend.sql("INSERT INTO notes VALUES ({p})"), [text])
        await db.run_many(backend.sql("INSERT INTO notes VALUES ({p})"), [[text], [text]])
        await db.run(backend.sql("UPDATE accounts SET owner = owner WHERE owner = {p}"), [text])
        await db.run(backend.sql("DELETE FROM accounts WHERE owner = {p}"), [text])
        async with db.transaction() as tx:
            await tx.run(backend.sql("INSERT INTO notes VALUES ({p})"), [text])
    assert await _state(backend) == before
    stored = [row["body"] for row in await db.fetch_all("SELECT body FROM notes")]
    assert sorted(stored) == sorted(HOSTILE * 4)


async def test_names_through_the_identifier_helper_stay_one_name(backend: Backend) -> None:
    before = await _state(backend)
    db = backend.db
    for text in HOSTILE:
        if text == "accounts":
            continue
        name = quote_identifier((text,))
        await _attempt(db.fetch_all(f"SELECT * FROM {name}"))
        await _attempt(db.fetch_all(f"SELECT {name} FROM accounts"))
        await _attempt(db.fetch_all(f"SELECT * FROM accounts ORDER BY {name}"))
        await _attempt(db.run(f"INSERT INTO {Identifier(text)} VALUES (1)"))
        await _attempt(db.run(f"DELETE FROM {quote_identifier(('accounts', text))}"))
        assert await _state(backend) == before
    # A hostile name used to create a table makes exactly that one oddly named table.
    odd = HOSTILE[0]
    await db.run(f"CREATE TABLE {quote_identifier((odd,))} (x integer)")
    tables, rows = await _state(backend)
    assert tables == sorted([*before[0], odd])
    assert rows == before[1]
    await db.run(f"DROP TABLE {quote_identifier((odd,))}")
    assert await _state(backend) == before


async def test_a_dotted_name_is_split_into_quoted_parts(backend: Backend) -> None:
    assert quote_identifier("accounts") == '"accounts"'
    rows = await backend.db.fetch_all(f"SELECT {quote_identifier('accounts.owner')} FROM accounts")
    assert [row["owner"] for row in rows] == ["ada", "bob"]


async def test_a_second_statement_next_to_bound_parameters_is_refused(backend: Backend) -> None:
    before = await _state(backend)
    with pytest.raises(QueryError):
        await backend.db.run(backend.sql("SELECT {p}; DROP TABLE accounts"), [1])
    assert await _state(backend) == before
