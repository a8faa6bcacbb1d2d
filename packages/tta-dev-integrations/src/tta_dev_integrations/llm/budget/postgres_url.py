"""A PostgreSQL URL shown without its password, and the password's forms to scrub.

The password is read the way libpq reads it (psycopg's ``conninfo_to_dict``), and also
the way a URL parser does, so that any form that may appear in an error is scrubbed.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

__all__ = ["masked_url", "url_passwords"]


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
