"""The pure parts of the database package: requests, identifiers, statements, DSNs, surface."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tta_dev_integrations.database import (
    Identifier,
    Query,
    is_retry_safe,
    quote_identifier,
    redact_dsn,
    sanitize,
)
from tta_dev_integrations.database.dsn import dsn_secrets, lookup_setting, scrub
from tta_dev_integrations.database.postgrest import filter_params, parse_content_range
from tta_dev_integrations.database.request import as_query
from tta_dev_integrations.database.statements import describe, operation_name

# -- requests -----------------------------------------------------------------------


def test_request_shapes() -> None:
    assert as_query("SELECT 1") == Query("SELECT 1")
    assert as_query({"query": "SELECT %s", "params": [1], "fetch": "value"}) == Query(
        "SELECT %s", [1], "value"
    )
    many = as_query({"query": "INSERT INTO t VALUES (?)", "many": [[1], [2]], "fetch": "none"})
    assert many.many == [[1], [2]]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"sql": "SELECT 1"}, "unknown keys"),
        ({"params": [1]}, "needs a 'query'"),
        ({"query": "  "}, "non-empty"),
        ({"query": "SELECT 1", "fetch": "some"}, "fetch must be"),
        ({"query": "SELECT ?", "params": "abc"}, "wrap a single value"),
        ({"query": "SELECT ?", "params": 5}, "sequence or a mapping"),
        ({"query": "INSERT", "many": [[1]]}, "fetch='none'"),
        ({"query": "INSERT", "many": [[1]], "params": [1], "fetch": "none"}, "not both"),
        ({"query": "INSERT", "many": ["ab"], "fetch": "none"}, r"many\[0\]"),
    ],
)
def test_bad_requests_say_what_is_wrong(request_: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_query(request_)  # type: ignore[arg-type]


# -- identifiers --------------------------------------------------------------------


def test_identifiers_are_quoted_and_validated() -> None:
    assert quote_identifier("users") == '"users"'
    assert quote_identifier("public.users") == '"public"."users"'
    assert quote_identifier(("odd.name",)) == '"odd.name"'
    assert quote_identifier('a"b') == '"a""b"'
    assert str(Identifier("s", "t")) == '"s"."t"'
    assert Identifier.parse("s.t") == Identifier("s", "t")
    for bad in ["", "a..b", "a\x00b", "a\nb", "x" * 64, "a.b.c.d", "\ud800"]:
        with pytest.raises(ValueError, match="identifier"):
            quote_identifier(bad)
    with pytest.raises(ValueError, match="string"):
        quote_identifier((1,))  # type: ignore[arg-type]


NAME_CHARS = st.characters(min_codepoint=32, exclude_characters="\x7f.", exclude_categories=("Cs",))


@given(st.text(alphabet=NAME_CHARS, min_size=1, max_size=20))
def test_a_quoted_identifier_always_reads_back_as_one_name(name: str) -> None:
    quoted = quote_identifier(name)
    assert quoted.startswith('"')
    assert quoted.endswith('"')
    inner = quoted[1:-1]
    assert inner.replace('""', "").count('"') == 0  # every inner quote is doubled
    assert inner.replace('""', '"') == name


# -- statements ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "text"),
    [
        ("SELECT * FROM t WHERE a = 'x''y' AND b = 42", "SELECT * FROM t WHERE a = ? AND b = ?"),
        ("select E'a\\'b', $$q$$, $tag$ ' $tag$ from t1", "select ?, ?, ? from t1"),
        ("SELECT 1.5e3, .5, 0xFF -- comment\n FROM t", "SELECT ?, ?, ? FROM t"),
        ('SELECT "col 1", t2.c3 FROM "t" /* note */', 'SELECT "col 1", t2.c3 FROM "t"'),
        ("INSERT INTO t VALUES (%s, %(a)s, ?, :b, $1)",
         "INSERT INTO t VALUES (%s, %(a)s, ?, :b, $1)"),
        ("SELECT 'unterminated", "SELECT ?"),
    ],
)  # fmt: skip
def test_sanitize_drops_every_literal(sql: str, text: str) -> None:
    assert sanitize(sql) == text


def test_sanitize_bounds_its_length() -> None:
    assert len(sanitize("SELECT " + "a, " * 2000 + "b")) == 2048


@pytest.mark.parametrize(
    ("sql", "operation", "safe"),
    [
        ("SELECT 1", "SELECT", True),
        ("  (select 1)", "SELECT", True),
        ("VALUES (1)", "VALUES", True),
        ("SHOW search_path", "SHOW", True),
        ("EXPLAIN SELECT 1", "EXPLAIN", True),
        ("EXPLAIN ANALYZE DELETE FROM t", "EXPLAIN", False),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "SELECT", True),
        ("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x", "DELETE", False),
        ("SELECT * FROM t FOR UPDATE", "SELECT", False),
        ("SELECT * INTO t2 FROM t", "SELECT", False),
        ("SELECT nextval('s')", "SELECT", False),
        ("SELECT pg_advisory_lock(1)", "SELECT", False),
        ("SELECT 1; DELETE FROM t", "SELECT", False),
        ("SELECT 1;", "SELECT", True),
        ('SELECT "for update" FROM t', "SELECT", True),
        ("SELECT 'for update'", "SELECT", True),
        ("INSERT INTO t VALUES (1)", "INSERT", False),
        ("update t set a = 1", "UPDATE", False),
        ("CREATE TABLE t (x int)", "CREATE", False),
        ("frobnicate", "OTHER", False),
        ("", "OTHER", False),
    ],
)
def test_operation_and_retry_safety(sql: str, operation: str, safe: bool) -> None:
    assert operation_name(sql) == operation
    assert is_retry_safe(sql) is safe
    assert describe(sql) == (operation, sanitize(sql), safe)


# -- DSNs and settings --------------------------------------------------------------


@pytest.mark.parametrize(
    ("dsn", "redacted"),
    [
        ("postgresql://app:s3cret@db:5432/main", "postgresql://app:***@db:5432/main"),
        ("postgresql://app:p%40ss%2Fw@db/main?sslmode=require",
         "postgresql://app:***@db/main?sslmode=require"),
        ("postgresql://app@db/main", "postgresql://app@db/main"),
        ("postgresql://db/main?user=a&password=s3cret&x=1",
         "postgresql://db/main?user=a&password=***&x=1"),
        ("postgres://u:pw@h1:5432,h2:5433/db", "postgres://u:***@h1:5432,h2:5433/db"),
        ("host=db password='s 3cret' dbname=main", "host=db password=*** dbname=main"),
        ("host=db password = s3cret dbname=main", "host=db password = *** dbname=main"),
        ("sqlite:///var/app.db", "sqlite:///var/app.db"),
    ],
)  # fmt: skip
def test_redact_dsn(dsn: str, redacted: str) -> None:
    assert redact_dsn(dsn) == redacted


def test_dsn_secrets_and_scrub() -> None:
    secrets = dsn_secrets("postgresql://app:p%40ss@db/main?password=other")
    assert secrets == {"p%40ss", "p@ss", "other"}
    assert scrub("login p@ss failed (other)", secrets) == "login *** failed (***)"
    assert dsn_secrets("host=db password='a b'") == {"a b"}


def test_lookup_setting_uses_the_secrets_loader_then_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    from pathlib import Path

    from tta_secrets.loader import reset_default_loader

    dotenv = Path(str(tmp_path)) / ".env"
    dotenv.write_text("DATABASE_URL=postgresql://from-dotenv/db\n")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.setenv("TTA_DOTENV", str(dotenv))
    reset_default_loader()
    try:
        assert lookup_setting("DATABASE_URL") == "postgresql://from-dotenv/db"
        monkeypatch.setenv("DATABASE_URL", "postgresql://from-env/db")
        reset_default_loader()
        assert lookup_setting("DATABASE_URL") == "postgresql://from-env/db"
        assert lookup_setting("TTA_SURELY_UNSET_SETTING") is None
    finally:
        reset_default_loader()


def test_lookup_setting_without_the_secrets_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tta_secrets.loader", None)  # import now fails
    monkeypatch.setenv("SUPABASE_URL", "http://127.0.0.1:1")
    assert lookup_setting("SUPABASE_URL") == "http://127.0.0.1:1"


# -- PostgREST helpers --------------------------------------------------------------


def test_filter_shapes_and_values() -> None:
    import datetime
    import uuid

    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    ident = uuid.UUID(int=1)
    assert filter_params({"a": 1, "b": None, "c": True}) == [
        ("a", "eq.1"), ("b", "eq.null"), ("c", "eq.true"),
    ]  # fmt: skip
    assert filter_params([("t", "gt", moment), ("u", "eq", ident)]) == [
        ("t", "gt.2024-01-02T03:04:05+00:00"),
        ("u", f"eq.{ident}"),
    ]
    assert filter_params(("x", "in", [None, "a"])) == [("x", 'in.(null,"a")')]
    assert filter_params(("x", "is", None)) == [("x", "is.null")]
    with pytest.raises(TypeError, match="bytes"):
        filter_params(("x", "eq", b"raw"))
    with pytest.raises(ValueError, match="operator"):
        filter_params(("x", "between", 1))


def test_content_range_forms() -> None:
    assert parse_content_range("0-24/3573458") == (0, 24, 3573458)
    assert parse_content_range("0-14/*") == (0, 14, None)
    assert parse_content_range("*/0") == (None, None, 0)
    assert parse_content_range("garbage") == (None, None, None)
    assert parse_content_range(None) == (None, None, None)


# -- the exported surface -----------------------------------------------------------


def test_all_is_sorted_resolvable_and_documented() -> None:
    module = importlib.import_module("tta_dev_integrations.database")
    names = list(module.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name} has no docstring"
    with pytest.raises(AttributeError):
        _ = module.NoSuchThing


def test_importing_the_package_loads_no_driver() -> None:
    code = (
        "import sys, tta_dev_integrations.database; "
        "heavy = ('psycopg', 'psycopg_pool', 'aiosqlite', 'httpx', 'prometheus_client'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
