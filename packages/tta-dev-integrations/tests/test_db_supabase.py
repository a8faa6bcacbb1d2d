"""SupabasePrimitive against a loopback server replaying PostgREST's documented answers.

Each fixture says which page of the PostgREST reference (docs.postgrest.org,
references/api/...) its answer follows; the assertions are on what reached the server.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from postgrest_replay import Answer, PostgRESTReplay
from tta_dev_integrations.database import (
    ConstraintViolationError,
    DatabaseConnectionError,
    Filter,
    NotFoundError,
    QuerySyntaxError,
    SupabaseError,
    SupabasePrimitive,
)
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.testing import capture_spans

KEY = "sb-secret-key-0123456789-canary"


@pytest.fixture
def server() -> Iterator[PostgRESTReplay]:
    with PostgRESTReplay() as replay:
        yield replay


@pytest.fixture
async def db(server: PostgRESTReplay) -> SupabasePrimitive:
    primitive = SupabasePrimitive(server.url, KEY)
    yield primitive  # type: ignore[misc]
    await primitive.aclose()


async def test_select_sends_columns_filters_order_range_count_and_both_auth_headers(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    # "Pagination and Count": Range-Unit/Range in, 206 with Content-Range 0-1/3 out.
    server.add(
        "GET",
        "/rest/v1/people",
        Answer(206, [{"id": 1, "age": 30}, {"id": 2, "age": 20}],
               {"Content-Range": "0-1/3", "Range-Unit": "items"}),
    )  # fmt: skip
    result = await db.select(
        "people",
        ["id", "age"],
        filters=[
            ("age", "gte", 18),
            Filter("student", "is", True),
            ("name", "ilike", "*ann*"),
            Filter("status", "eq", "gone", negate=True),
            ("id", "in", [1, 2, 3]),
        ],
        order=["age.desc.nullslast", "id"],
        range=(0, 1),
        count="exact",
    )
    request = server.last
    assert request.method == "GET"
    assert request.params == [
        ("select", "id,age"),
        ("age", "gte.18"),
        ("student", "is.true"),
        ("name", "ilike.*ann*"),
        ("status", "not.eq.gone"),
        ("id", 'in.("1","2","3")'),
        ("order", "age.desc.nullslast,id"),
    ]
    assert request.headers["apikey"] == KEY
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["range"] == "0-1"
    assert request.headers["range-unit"] == "items"
    assert request.headers["prefer"] == "count=exact"
    assert result.rows == [{"id": 1, "age": 30}, {"id": 2, "age": 20}]
    assert (result.status, result.start, result.end, result.total) == (206, 0, 1, 3)


@pytest.mark.parametrize("count", ["planned", "estimated"])
async def test_planned_and_estimated_counts_use_prefer(
    server: PostgRESTReplay, db: SupabasePrimitive, count: str
) -> None:
    # "Pagination and Count", planned/estimated: HEAD-like answer 206, Content-Range 0-24/3572000.
    server.add("GET", "/rest/v1/bigtable", Answer(206, [], {"Content-Range": "0-24/3572000"}))
    result = await db.select("bigtable", limit=25, offset=0, count=count)  # type: ignore[arg-type]
    assert server.last.headers["prefer"] == f"count={count}"
    assert server.last.param("limit") == ["25"]
    assert server.last.param("offset") == ["0"]
    assert result.total == 3572000


async def test_unknown_total_and_empty_ranges_parse(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    # "Pagination and Count": every answer carries Content-Range, "0-14/*" without a count.
    server.add("GET", "/rest/v1/people", Answer(200, [{"id": 1}], {"Content-Range": "0-0/*"}))
    server.add("GET", "/rest/v1/people", Answer(200, [], {"Content-Range": "*/0"}))
    first = await db.select("people")
    empty = await db.select("people")
    assert (first.start, first.end, first.total) == (0, 0, None)
    assert (empty.start, empty.end, empty.total, empty.rows) == (None, None, 0, [])


async def test_single_row_request_and_pgrst116_maps_to_not_found(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    # "Resource Representation" (singular or plural) + "Errors" PGRST116, 406.
    server.add("GET", "/rest/v1/todos", Answer(200, {"id": 3, "title": "x"}))
    server.add(
        "GET",
        "/rest/v1/todos",
        Answer(406, {"code": "PGRST116", "details": "The result contains 0 rows",
                     "hint": None, "message": "Cannot coerce the result to a single JSON object"}),
    )  # fmt: skip
    row = await db.select("todos", filters={"id": 3}, single=True)
    assert server.last.headers["accept"] == "application/vnd.pgrst.object+json"
    assert server.last.param("id") == ["eq.3"]
    assert row.data == {"id": 3, "title": "x"}
    with pytest.raises(NotFoundError) as caught:
        await db.select("todos", filters={"id": 4}, single=True)
    assert caught.value.code == "PGRST116"
    assert caught.value.status == 406


async def test_several_rows_for_a_single_request_is_not_not_found(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    # "Errors" PGRST116 with details "The result contains 2 rows".
    server.add(
        "GET",
        "/rest/v1/todos",
        Answer(406, {"code": "PGRST116", "details": "The result contains 2 rows",
                     "hint": None, "message": "Cannot coerce the result to a single JSON object"}),
    )  # fmt: skip
    with pytest.raises(SupabaseError) as caught:
        await db.select("todos", single=True)
    assert not isinstance(caught.value, NotFoundError)


async def test_insert_returns_representation_or_nothing(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    # "Tables and Views", Insert / Bulk Insert: 201, the rows with return=representation.
    server.add("POST", "/rest/v1/people", Answer(201, [{"id": 1, "name": "J Doe"}]))
    server.add("POST", "/rest/v1/people", Answer(201))
    created = await db.insert("people", {"name": "J Doe"})
    assert server.last.headers["prefer"] == "return=representation"
    assert server.last.json == {"name": "J Doe"}
    assert created.rows == [{"id": 1, "name": "J Doe"}]
    minimal = await db.insert("people", [{"name": "A"}, {"name": "B"}], returning="minimal")
    assert server.last.headers["prefer"] == "return=minimal"
    assert server.last.json == [{"name": "A"}, {"name": "B"}]
    assert minimal.data is None
    assert minimal.status == 201


async def test_upsert_sends_resolution_and_on_conflict(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    # "Tables and Views", Upsert / On Conflict: POST ?on_conflict=name, resolution header.
    server.add("POST", "/rest/v1/employees", Answer(201, [{"name": "Old employee 1"}]))
    server.add("POST", "/rest/v1/employees", Answer(201, []))
    await db.upsert("employees", [{"name": "Old employee 1", "salary": 40000}], on_conflict="name")
    assert server.last.param("on_conflict") == ["name"]
    assert server.last.headers["prefer"] == "resolution=merge-duplicates,return=representation"
    await db.upsert("employees", {"id": 1}, ignore_duplicates=True, returning="minimal")
    assert server.last.headers["prefer"] == "resolution=ignore-duplicates,return=minimal"


async def test_update_and_delete_need_filters(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    # "Tables and Views", Update (PATCH ?age=lt.13) and Delete (DELETE ?id=eq.1).
    server.add("PATCH", "/rest/v1/people", Answer(200, [{"id": 5, "category": "child"}]))
    server.add("DELETE", "/rest/v1/user", Answer(200, [{"id": 1, "email": "johndoe@email.com"}]))
    server.add("DELETE", "/rest/v1/user", Answer(204))
    updated = await db.update("people", {"category": "child"}, filters=[("age", "lt", 13)])
    assert server.last.method == "PATCH"
    assert server.last.params == [("age", "lt.13")]
    assert server.last.json == {"category": "child"}
    assert updated.rows == [{"id": 5, "category": "child"}]
    deleted = await db.delete("user", filters={"id": 1})
    assert server.last.params == [("id", "eq.1")]
    assert deleted.rows[0]["email"] == "johndoe@email.com"
    everything = await db.delete("user", all_rows=True, returning="minimal")
    assert server.last.params == []
    assert everything.data is None
    sent = len(server.requests)
    with pytest.raises(ValueError, match="every row"):
        await db.update("people", {"category": "x"})
    with pytest.raises(ValueError, match="every row"):
        await db.delete("people")
    assert len(server.requests) == sent


async def test_a_select_is_sent_again_once_after_a_dropped_connection(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    server.add("GET", "/rest/v1/todos", Answer(drop=True), Answer(200, [{"id": 1}]))
    result = await db.select("todos")
    assert result.rows == [{"id": 1}]
    assert len(server.requests) == 2
    server.add("GET", "/rest/v1/todos", Answer(drop=True), Answer(drop=True))
    with pytest.raises(DatabaseConnectionError):
        await db.select("todos")
    assert len(server.requests) == 4


async def test_a_write_is_never_sent_again(server: PostgRESTReplay, db: SupabasePrimitive) -> None:
    server.add("POST", "/rest/v1/todos", Answer(drop=True), Answer(201))
    server.add("POST", "/rest/v1/rpc/bump", Answer(drop=True), Answer(200, 1))
    with pytest.raises(DatabaseConnectionError) as caught:
        await db.insert("todos", {"title": "x"})
    assert caught.value.connection_lost
    with pytest.raises(DatabaseConnectionError):
        await db.rpc("bump")
    assert [r.path for r in server.requests] == ["/rest/v1/todos", "/rest/v1/rpc/bump"]


async def test_rpc_posts_arguments(server: PostgRESTReplay, db: SupabasePrimitive) -> None:
    # "Functions as RPC": POST /rpc/add_them with named arguments, the scalar result.
    server.add("POST", "/rest/v1/rpc/add_them", Answer(200, 3))
    with capture_spans() as spans:
        result = await db.rpc("add_them", {"a": 1, "b": 2})
    assert server.last.json == {"a": 1, "b": 2}
    assert result.data == 3
    (span,) = [s for s in spans.spans if s.name == "RPC add_them"]
    attributes = dict(span.attributes or {})
    assert attributes["db.stored_procedure.name"] == "add_them"
    assert "db.collection.name" not in attributes


async def test_constraint_errors_are_typed_with_the_constraint_name(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    # "Errors": 23505 -> 409; 23502 -> 400 (the page's own example body).
    server.add(
        "POST",
        "/rest/v1/projects",
        Answer(409, {"code": "23505", "details": "Key (id)=(1) already exists.", "hint": None,
                     "message": 'duplicate key value violates unique constraint "projects_pkey"'}),
        Answer(400, {"code": "23502", "details": "Failing row contains (null, foo, null).",
                     "hint": None, "message": 'null value in column "id" of relation "projects" '
                     "violates not-null constraint"}),
    )  # fmt: skip
    with pytest.raises(ConstraintViolationError) as unique:
        await db.insert("projects", {"id": 1})
    assert (unique.value.kind, unique.value.constraint, unique.value.status) == (
        "unique", "projects_pkey", 409,
    )  # fmt: skip
    assert unique.value.details == "Key (id)=(1) already exists."
    with pytest.raises(ConstraintViolationError) as not_null:
        await db.insert("projects", {"name": "foo"})
    assert not_null.value.kind == "not_null"


async def test_unknown_table_and_function_are_syntax_errors_others_supabase_errors(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    # "Errors": 42P01 -> 404 (v10 example), PGRST202 -> 404, PGRST301 (JWT) -> 401.
    server.add(
        "GET",
        "/rest/v1/nonexistent_table",
        Answer(404, {"hint": None, "details": None, "code": "42P01",
                     "message": 'relation "api.nonexistent_table" does not exist'}),
    )  # fmt: skip
    server.add(
        "POST",
        "/rest/v1/rpc/nonexistent_function",
        Answer(404, {"hint": "If a new function was created in the database with this name "
                     "and parameters, try reloading the schema cache.", "details": None,
                     "code": "PGRST202", "message": "Could not find the function"}),
    )  # fmt: skip
    server.add(
        "GET",
        "/rest/v1/people",
        Answer(401, {"code": "PGRST301", "details": None, "hint": None,
                     "message": "JWSError JWSInvalidSignature"}),
        Answer(502, raw=b"<html>bad gateway</html>"),
    )  # fmt: skip
    with pytest.raises(QuerySyntaxError):
        await db.select("nonexistent_table")
    with pytest.raises(QuerySyntaxError) as missing:
        await db.rpc("nonexistent_function")
    assert missing.value.hint is not None
    with pytest.raises(SupabaseError) as auth:
        await db.select("people")
    assert (auth.value.code, auth.value.status) == ("PGRST301", 401)
    with pytest.raises(SupabaseError) as html:
        await db.select("people")
    assert html.value.status == 502
    for error in (missing.value, auth.value, html.value):
        assert KEY not in str(error)
        assert KEY not in repr(error)


async def test_injection_through_filter_values_stays_inside_the_value(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    hostile = 'x&id=gt.0,or=(id.gt.0)"); DROP TABLE people; --#frag'
    server.add("GET", "/rest/v1/people", Answer(200, []), Answer(200, []), Answer(200, []))
    await db.select("people", filters={"name": hostile})
    assert server.last.params == [("select", "*"), ("name", f"eq.{hostile}")]
    await db.select("people", filters=[("name", "in", [hostile, 'a"b\\c', "d,e"])])
    expected_in = 'in.("x&id=gt.0,or=(id.gt.0)\\"); DROP TABLE people; --#frag","a\\"b\\\\c","d,e")'
    assert server.last.params == [("select", "*"), ("name", expected_in)]
    await db.select("people", filters=[("name", "like", "50%_off*")])
    assert server.last.param("name") == ["like.50%_off*"]


@pytest.mark.parametrize(
    "call",
    [
        lambda db: db.select("people", ["id", "name&admin=eq.true"]),
        lambda db: db.select("people", filters={"id=eq.1&x": 1}),
        lambda db: db.select("people", filters=[("id", "eq.1&x", 1)]),
        lambda db: db.select("people", order="id;drop"),
        lambda db: db.select("people?select=secret", ["id"]),
        lambda db: db.select("../auth/v1/users"),
        lambda db: db.insert("people", {"name) VALUES (1); --": "x"}),
        lambda db: db.upsert("people", {"id": 1}, on_conflict="id,name"),
        lambda db: db.rpc("fn/../../admin"),
        lambda db: db.rpc("fn", {"a b": 1}),
        lambda db: db.select("people", filters=[("deleted", "is", "true;drop")]),
        lambda db: db.select("people", filters=[("id", "in", "1,2")]),
        lambda db: db.select("people", range=(5, 1)),
        lambda db: db.select("people", limit=-1),
        lambda db: db.select("people", count="all"),
    ],
)
async def test_bad_names_and_arguments_are_refused_before_any_request(
    server: PostgRESTReplay, db: SupabasePrimitive, call: object
) -> None:
    with pytest.raises((ValueError, TypeError)):
        await call(db)  # type: ignore[operator]
    assert server.requests == []


async def test_as_a_workflow_step_and_traced_without_the_key(
    server: PostgRESTReplay, db: SupabasePrimitive
) -> None:
    server.add("GET", "/rest/v1/todos", Answer(200, [{"id": 1}], {"Content-Range": "0-0/*"}))
    with capture_spans() as spans:
        result = await db.execute(
            {"op": "select", "table": "todos", "filters": {"done": False}}, WorkflowContext()
        )
    assert result.rows == [{"id": 1}]
    assert server.last.param("done") == ["eq.false"]
    client = [s for s in spans.spans if s.name == "SELECT todos"]
    assert len(client) == 1
    attributes = dict(client[0].attributes or {})
    # PostgREST over PostgreSQL: the registered system, Supabase in its own attribute.
    assert attributes["db.system.name"] == "postgresql"
    assert attributes["tta.db.service"] == "supabase"
    assert attributes["db.namespace"] == "public"
    assert attributes["db.collection.name"] == "todos"
    assert attributes["db.operation.name"] == "SELECT"
    for span in spans.spans:
        assert KEY not in repr(dict(span.attributes or {}))
    assert KEY not in repr(db)
    with pytest.raises(ValueError, match="'op'"):
        await db.execute({"table": "todos"}, WorkflowContext())


async def test_schema_and_access_token_headers(server: PostgRESTReplay) -> None:
    # "Schemas": Accept-Profile for reads, Content-Profile for writes.
    server.add("GET", "/todos", Answer(200, []))
    server.add("POST", "/todos", Answer(201))
    async with SupabasePrimitive(
        server.url, KEY, access_token="user-jwt", schema="tenant_a", rest_path=""
    ) as db:
        await db.select("todos")
        assert server.last.headers["accept-profile"] == "tenant_a"
        assert server.last.headers["authorization"] == "Bearer user-jwt"
        assert server.last.headers["apikey"] == KEY
        await db.insert("todos", {"t": 1}, returning="minimal")
        assert server.last.headers["content-profile"] == "tenant_a"


async def test_unreachable_server_is_a_connection_error() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with SupabasePrimitive(f"http://127.0.0.1:{port}", KEY) as db:
        with pytest.raises(DatabaseConnectionError) as caught:
            await db.select("todos")
    assert KEY not in str(caught.value)


async def test_settings_come_from_the_environment(
    server: PostgRESTReplay, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tta_secrets.loader import reset_default_loader

    monkeypatch.setenv("SUPABASE_URL", server.url)
    monkeypatch.setenv("SUPABASE_KEY", KEY)
    monkeypatch.setenv("TTA_DOTENV", "/nonexistent/.env")
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    reset_default_loader()
    server.add("GET", "/rest/v1/t", Answer(200, []))
    try:
        async with SupabasePrimitive() as db:
            await db.select("t")
        assert server.last.headers["apikey"] == KEY
    finally:
        reset_default_loader()
    monkeypatch.delenv("SUPABASE_KEY")
    reset_default_loader()
    with pytest.raises(ValueError, match="SUPABASE_KEY"):
        SupabasePrimitive()
    reset_default_loader()


async def test_caller_supplied_client_is_not_closed(server: PostgRESTReplay) -> None:
    server.add("GET", "/rest/v1/t", Answer(200, []))
    async with httpx.AsyncClient() as client:
        async with SupabasePrimitive(server.url, KEY, client=client) as db:
            await db.select("t")
        assert not client.is_closed
