"""The ledger's PostgreSQL sessions: the URL without its password, the session settings.

The password is read the way libpq reads it (psycopg's ``conninfo_to_dict``), and also
the way a URL parser does, so that any form that may appear in an error is scrubbed.
Sessions set ``lock_timeout`` and ``idle_in_transaction_session_timeout`` so a hung
worker cannot hold a budget row for long.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

__all__ = ["configure_session", "masked_url", "safe_cause", "scrubbed", "url_passwords"]


async def configure_session(conn: psycopg.AsyncConnection[Any]) -> None:
    """Settings of every pooled session: waits on locks and idle transactions are bounded."""
    await conn.execute("SET lock_timeout = '10s'")
    await conn.execute("SET idle_in_transaction_session_timeout = '60s'")


def url_passwords(url: str) -> set[str]:
    """Every form of the URL's password that an error message might carry."""
    found: set[str] = set()
    try:
        password = conninfo_to_dict(url).get("password")
    except psycopg.Error:
        password = None
    if password:
        found.add(str(password))
    try:
        raw = urlsplit(url).password
    except ValueError:
        raw = None
    if raw:
        found.update({raw, unquote(raw)})
    return found


def masked_url(url: str) -> str:
    """``url`` without its password: ``postgresql://user@host:port/dbname``."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://<unreadable URL>"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def scrubbed(text: str, secrets: set[str]) -> str:
    """``text`` with every form of the password replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def safe_cause(error: BaseException, secrets: set[str]) -> BaseException | None:
    """The original error to chain, unless its text carries the password."""
    return None if any(secret in str(error) for secret in secrets) else error
