"""A PostgreSQL server for the ledger tests, and a database of their own on it.

Where the server comes from, first that answers:

1. ``TTA_TEST_POSTGRES_URL``;
2. the server on 127.0.0.1:5432 (user ``postgres`` or ``root``, trust authentication,
   database ``postgres`` or ``test``);
3. a throwaway cluster started from the installed binaries
   (``/usr/lib/postgresql/*/bin``: ``initdb`` + ``pg_ctl``) on a free port, run by the
   ``postgres`` user (or ``nobody``) when the tests run as root, removed at the end.

Each test run then creates its own database (``tta_test_<random>``) and drops it at the
end; each test gets its own schema in it (:func:`schema_url`).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

CANDIDATES = [
    f"postgresql://{user}@127.0.0.1:5432/{db}"
    for user in ("postgres", "root")
    for db in ("postgres", "test")
]


def url_with(url: str, **changes: str) -> str:
    """``url`` (a URL or a keyword DSN) as a ``postgresql://`` URL, with ``changes``."""
    params = {key: str(value) for key, value in conninfo_to_dict(url).items()}
    params.update(changes)
    user = quote(params.pop("user", ""), safe="")
    password = params.pop("password", "")
    auth = f"{user}:{quote(password, safe='')}@" if password else (f"{user}@" if user else "")
    host = params.pop("host", "127.0.0.1")
    port = params.pop("port", "5432")
    dbname = quote(params.pop("dbname", "postgres"), safe="")
    query = "&".join(f"{key}={quote(value, safe='')}" for key, value in sorted(params.items()))
    return f"postgresql://{auth}{host}:{port}/{dbname}" + (f"?{query}" if query else "")


def schema_url(url: str, schema: str) -> str:
    """``url`` whose sessions use ``schema`` first (``search_path``)."""
    return url_with(url, options=f"-csearch_path={schema}")


def answers(url: str) -> bool:
    """Whether a PostgreSQL server accepts a connection at ``url``."""
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def free_port() -> int:
    """A TCP port nobody listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binaries() -> Path | None:
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


@contextmanager
def throwaway_cluster() -> Iterator[str | None]:
    """A new cluster on a free port: yields its URL (``None`` when it cannot start)."""
    binaries = _binaries()
    if binaries is None:
        yield None
        return
    user = None
    if os.geteuid() == 0:  # initdb refuses to run as root
        for name in ("postgres", "nobody"):
            with suppress(KeyError):
                user = pwd.getpwnam(name)
                break
    root = Path(tempfile.mkdtemp(prefix="tta-pg-"))
    data = root / "data"
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    port = free_port()
    uid, gid = (user.pw_uid, user.pw_gid) if user is not None else (None, None)
    env = {**os.environ, "LC_ALL": "C.UTF-8"}
    try:
        subprocess.run(
            [str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
             "--no-sync"],
            check=True, capture_output=True, env=env, user=uid, group=gid,
        )  # fmt: skip
        subprocess.run(
            [str(binaries / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w",
             "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"],
            check=True, capture_output=True, env=env, user=uid, group=gid,
        )  # fmt: skip
    except (subprocess.CalledProcessError, OSError):
        shutil.rmtree(root, ignore_errors=True)
        yield None
        return
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            check=False, capture_output=True, env=env, user=uid, group=gid,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def server() -> Iterator[str | None]:
    """The URL of a PostgreSQL server to test against (``None``: none could be had)."""
    given = os.environ.get("TTA_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    for url in CANDIDATES:
        if answers(url):
            yield url
            return
    with throwaway_cluster() as started:
        yield started


@contextmanager
def database(admin_url: str, prefix: str = "tta_test") -> Iterator[str]:
    """A new database on the server of ``admin_url``, dropped at the end: yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield url_with(admin_url, dbname=name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))  # fmt: skip


@contextmanager
def schema(database_url: str) -> Iterator[str]:
    """A new schema in the database of ``database_url``, dropped at the end: its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    try:
        yield schema_url(database_url, name)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@contextmanager
def test_database() -> Iterator[str]:
    """A database of this test run on the first server found; skips when there is none."""
    with server() as url:
        if url is None:
            pytest.skip(
                "no PostgreSQL: set TTA_TEST_POSTGRES_URL, run one on 127.0.0.1:5432, or "
                "install the postgresql package (its initdb and pg_ctl)"
            )
        with database(url) as name:
            yield name
