"""An authenticated endpoint: JWT check, then a write to SQLite and PostgreSQL.

`POST /notes` on 127.0.0.1 is served by one composed workflow:

    JWTPrimitive(ES256) >> take_note >> (insert into SQLite | insert into PostgreSQL)

The example plays the identity provider too: it generates an ES256 key pair, signs
tokens with the private half, and the endpoint verifies them with the public half only.
Then it acts as a client: a valid token (201, one row in each database), an expired
one and one forged with another key (401), and a valid token that lacks the
`notes:write` scope (403): nothing is written for those three.

SQLite lives in a temporary folder. PostgreSQL is the server at `DATABASE_URL`, or
127.0.0.1:5432 as user `postgres`; the example works in a schema of its own and drops
it at the end. If no PostgreSQL answers, it says so and writes to SQLite only.

Run it with `python examples/integrations/authenticated_notes.py [--keep]` (about 2 s);
`--keep` leaves the SQLite file and the PostgreSQL schema in place and prints where.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tta_dev_integrations.auth import AuthError, JWTPrimitive, Principal, TokenInput
from tta_dev_integrations.database import (
    DatabaseConnectionError,
    DatabaseError,
    PostgreSQLPrimitive,
    Query,
    QueryInput,
    SQLitePrimitive,
    quote_identifier,
)
from tta_dev_primitives import (
    LambdaPrimitive,
    ParallelPrimitive,
    WorkflowContext,
    WorkflowPrimitive,
)

ISSUER, AUDIENCE = "https://id.example.test/", "notes-api"
Endpoint = WorkflowPrimitive[TokenInput, list[Any]]  # request headers -> rows written
TABLE = "CREATE TABLE {} (id TEXT PRIMARY KEY, author TEXT NOT NULL, body TEXT NOT NULL)"


def key_pair() -> tuple[bytes, bytes]:
    """A fresh ES256 (P-256) key pair as PEM: (private, public)."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


async def take_note(principal: Principal, ctx: WorkflowContext) -> dict[str, str]:
    """The handler: the verified caller's note, as the row to store."""
    request = ctx.metadata["request"]
    return {"id": request["id"], "author": principal.subject, "body": request["text"]}


def insert_into(
    db: SQLitePrimitive | PostgreSQLPrimitive, table: str
) -> WorkflowPrimitive[dict[str, str], Any]:
    """A step that stores a note row in ``db`` and returns the rows written (1)."""
    style = ":{}" if isinstance(db, SQLitePrimitive) else "%({})s"  # each driver binds its own
    values = ", ".join(style.format(column) for column in ("id", "author", "body"))
    sql = f"INSERT INTO {table} (id, author, body) VALUES ({values})"

    async def as_query(note: dict[str, str]) -> QueryInput:
        return Query(sql, params=note, fetch="none")

    return LambdaPrimitive(as_query, name=f"note-to-{db.system}") >> db


async def answer(
    endpoint: Endpoint, headers: dict[str, str], body: bytes
) -> tuple[int, dict[str, Any]]:
    """Run the workflow for one request: (HTTP status, JSON body)."""
    try:
        text = json.loads(body)["text"]
    except (ValueError, TypeError, KeyError):
        return 400, {"error": "BadRequest", "detail": 'send JSON such as {"text": "..."}'}
    request = {"id": uuid.uuid4().hex[:12], "text": str(text)}
    ctx = WorkflowContext(workflow_id="notes-endpoint", metadata={"request": request})
    try:
        written = await endpoint.execute(headers, ctx)
    except AuthError as error:  # the message holds no token contents: safe to send back
        return error.status_code, {"error": type(error).__name__, "detail": str(error)}
    except DatabaseError as error:  # passwords are scrubbed from these messages
        return 503, {"error": type(error).__name__, "detail": str(error)}
    return 201, {"id": request["id"], "rows_written": written}


def serve(endpoint: Endpoint, loop: asyncio.AbstractEventLoop) -> ThreadingHTTPServer:
    """`POST /notes` on a free loopback port; requests run on ``loop``."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            job = answer(endpoint, dict(self.headers.items()), body)
            status, payload = asyncio.run_coroutine_threadsafe(job, loop).result()
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the client prints what happened."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


async def connect_postgres(schema: str) -> PostgreSQLPrimitive | None:
    """The PostgreSQL server with a new ``schema`` and notes table; None if none answers."""
    url = os.environ.get("DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
    db = PostgreSQLPrimitive(url, max_size=2, connect_timeout_s=3)
    try:
        await db.open()
    except DatabaseConnectionError as error:
        print(f"PostgreSQL at {db.safe_url} is not reachable, so notes go to SQLite only")
        print(f"  ({' '.join(str(error).split())})")
        return None
    async with db.transaction():  # DDL is transactional in PostgreSQL: both or neither
        await db.run(f"CREATE SCHEMA {quote_identifier(schema)}")
        await db.run(TABLE.format(quote_identifier((schema, "notes"))))
    print(f"PostgreSQL: {db.safe_url}, schema {schema}")
    return db


def es256(**keys: Any) -> JWTPrimitive:
    """A JWT primitive for this API's tokens: ES256, our issuer and audience."""
    return JWTPrimitive(algorithms=["ES256"], issuer=ISSUER, audience=AUDIENCE, **keys)


def identity_provider() -> tuple[JWTPrimitive, list[tuple[str, str]]]:
    """The endpoint's verifier (public key only) and the tokens the client will send."""
    private, public = key_pair()
    auth = es256(public_key=public, required_scopes=["notes:write"])
    idp = es256(private_key=private)
    an_hour_ago = es256(private_key=private, clock=lambda: time.time() - 3600)
    attacker = es256(private_key=key_pair()[0])  # a key of its own, not the provider's
    writer = {"sub": "ada", "scope": "notes:write"}
    return auth, [
        ("valid token", idp.issue(writer)),
        ("expired token", an_hour_ago.issue(writer, expires_in=60)),
        ("forged token", attacker.issue({"sub": "mallory", "scope": "notes:write"})),
        ("read-only token", idp.issue({"sub": "bob", "scope": "notes:read"})),
    ]


async def main(keep: bool) -> int:
    auth, calls = identity_provider()
    folder = Path(tempfile.mkdtemp(prefix="tta-notes-"))
    sqlite = SQLitePrimitive(folder / "notes.db")
    print(f"SQLite: {sqlite.path}")
    schema = f"notes_example_{uuid.uuid4().hex[:8]}"
    postgres = await connect_postgres(schema)
    tables: dict[SQLitePrimitive | PostgreSQLPrimitive, str] = {sqlite: "notes"}
    if postgres is not None:
        tables[postgres] = quote_identifier((schema, "notes"))
    httpd = None
    try:
        await sqlite.run(TABLE.format("notes"))
        stores = ParallelPrimitive([insert_into(db, table) for db, table in tables.items()])
        endpoint = auth >> take_note >> stores
        httpd = serve(endpoint, asyncio.get_running_loop())
        url = f"http://127.0.0.1:{httpd.server_port}/notes"
        async with httpx.AsyncClient() as client:
            for label, token in calls:
                headers = {"Authorization": f"Bearer {token}"}
                reply = await client.post(url, json={"text": f"from the {label}"}, headers=headers)
                got = reply.json()
                shown = (f"note {got['id']}, rows written {got['rows_written']}" if "id" in got
                         else f"{got['error']}: {got['detail']}")  # fmt: skip
                print(f"POST /notes with the {label:<16} -> {reply.status_code} {shown}")
        for db, table in tables.items():
            rows = await db.fetch_all(f"SELECT author, body FROM {table}")
            print(f"rows in {db.system}: {len(rows)} {rows}")
    finally:
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        await sqlite.aclose()
        if postgres is not None:
            if not keep:
                await postgres.run(f"DROP SCHEMA {quote_identifier(schema)} CASCADE")
            await postgres.aclose()
        if not keep:
            shutil.rmtree(folder)
    if keep:
        print(f"kept: {sqlite.path}" + (f" and schema {schema}" if postgres is not None else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(keep="--keep" in sys.argv[1:])))
