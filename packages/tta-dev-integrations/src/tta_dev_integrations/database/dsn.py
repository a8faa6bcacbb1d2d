"""Connection strings: where they come from, and how they are shown without their password.

:func:`lookup_setting` reads ``DATABASE_URL``, ``SUPABASE_URL``, ``SUPABASE_KEY``, ...
through the ``tta_secrets`` loader when it is installed (environment, ``.env`` file,
Vault), else from the process environment. :func:`redact_dsn` is what errors, spans
and reprs show of a DSN; :func:`dsn_secrets` lists the strings to scrub from a driver's
error text.
"""

from __future__ import annotations

import os
import re
import sys
from typing import NamedTuple
from urllib.parse import quote, unquote

__all__ = ["dsn_secrets", "lookup_setting", "redact_dsn", "scrub"]

_MASK = "***"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_PASSWORD_KEYS = frozenset({"password", "sslpassword"})
_SPACE = " \t\n\r\f\v"


class _Span(NamedTuple):
    """Where a password sits in a DSN (``start:end``) and the value libpq reads there."""

    start: int
    end: int
    value: str


def _url_spans(dsn: str, scheme_end: int) -> list[_Span]:
    """Password spans of a URL, parsed as libpq parses one.

    libpq ends the user part at the first ``@`` before any ``/`` (so ``#`` and ``?``
    belong to the password) and splits it at its first ``:``; a query parameter runs
    to the next ``&``. Values are percent-decoded.
    """
    spans: list[_Span] = []
    index = scheme_end
    while index < len(dsn) and dsn[index] not in "@/":
        index += 1
    rest = scheme_end
    if index < len(dsn) and dsn[index] == "@":
        userinfo = dsn[scheme_end:index]
        user, colon, password = userinfo.partition(":")
        if colon:
            start = scheme_end + len(user) + 1
            spans.append(_Span(start, index, unquote(password)))
        rest = index + 1
    query = dsn.find("?", rest)
    if query >= 0:
        position = query + 1
        for item in dsn[query + 1 :].split("&"):
            key, equals, value = item.partition("=")
            if equals and unquote(key) in _PASSWORD_KEYS:
                start = position + len(key) + 1
                spans.append(_Span(start, start + len(value), unquote(value)))
            position += len(item) + 1
    return spans


def _keyword_spans(dsn: str) -> list[_Span]:
    """Password spans of a ``key=value`` DSN, tokenised as libpq does.

    A value is single-quoted (to the next unescaped ``'``) or bare (to the next
    white space); a backslash escapes the character after it in both.
    """
    spans: list[_Span] = []
    index, size = 0, len(dsn)
    while index < size:
        while index < size and dsn[index] in _SPACE:
            index += 1
        if index >= size:
            break
        key_start = index
        while index < size and dsn[index] != "=" and dsn[index] not in _SPACE:
            index += 1
        key = dsn[key_start:index]
        while index < size and dsn[index] in _SPACE:
            index += 1
        if index >= size or dsn[index] != "=":
            break  # not a valid DSN: libpq refuses it; the fallback below still masks
        index += 1
        while index < size and dsn[index] in _SPACE:
            index += 1
        start, quoted, chars = index, index < size and dsn[index] == "'", []
        index += 1 if quoted else 0
        while index < size and (dsn[index] != "'" if quoted else dsn[index] not in _SPACE):
            if dsn[index] == "\\" and index + 1 < size:
                index += 1
            chars.append(dsn[index])
            index += 1
        index += 1 if quoted and index < size else 0
        if key in _PASSWORD_KEYS:
            spans.append(_Span(start, index, "".join(chars)))
    return spans


# What is left after the parse above: anything written like a password assignment.
_FALLBACK = re.compile(r"(\b(?:password|sslpassword)\s*=\s*)(\S+)", re.IGNORECASE)


def _spans(dsn: str) -> list[_Span]:
    scheme = _SCHEME.match(dsn)
    return _url_spans(dsn, scheme.end()) if scheme else _keyword_spans(dsn)


def _libpq_password(dsn: str) -> str | None:
    """The password as libpq itself reads it, when psycopg is already loaded."""
    conninfo = sys.modules.get("psycopg.conninfo")
    if conninfo is None:
        return None
    try:
        value = conninfo.conninfo_to_dict(dsn).get("password")
    except Exception:  # not a valid DSN: our own parse stands
        return None
    return str(value) if value else None


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password replaced by ``***``, in URL or ``key=value`` form.

    ``postgresql://app:s3cret@db:5432/main`` -> ``postgresql://app:***@db:5432/main``;
    ``host=db password='s 3' dbname=main`` -> ``host=db password=*** dbname=main``.
    The DSN is parsed the way libpq parses it (``postgresql://u:pw#x@db`` has the
    password ``pw#x``), so what libpq sends as the password is what is hidden.
    """
    spans = _spans(dsn)
    shown = dsn
    for span in sorted(spans, key=lambda found: found.start, reverse=True):
        shown = shown[: span.start] + _MASK + shown[span.end :]
    if not _SCHEME.match(dsn):
        shown = _FALLBACK.sub(lambda m: m.group(1) + _MASK, shown)
    libpq = _libpq_password(dsn)
    if libpq is not None and libpq not in {span.value for span in spans}:
        shown = scrub(shown, frozenset({libpq, quote(libpq, safe="")}))  # parsed otherwise
    return shown


def dsn_secrets(dsn: str) -> frozenset[str]:
    """The password(s) in ``dsn``, as written and as libpq reads them, to scrub from text."""
    found: set[str] = set()
    for span in _spans(dsn):
        raw = dsn[span.start : span.end]
        if len(raw) >= 2 and raw[0] == raw[-1] == "'":
            raw = raw[1:-1]
        found.update({raw, span.value})
    libpq = _libpq_password(dsn)
    if libpq is not None:
        found.add(libpq)
    found.update({unquote(value) for value in found})
    return frozenset(value for value in found if value and value != _MASK)


def scrub(text: str, secrets: frozenset[str]) -> str:
    """``text`` with each of ``secrets`` replaced by ``***`` (longest first)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, _MASK)
    return text


def lookup_setting(name: str) -> str | None:
    """The value of the setting ``name`` (e.g. ``DATABASE_URL``), or ``None`` when unset.

    Through the ``tta_secrets`` loader when it can be imported (environment, then the
    ``.env`` file, then Vault: so a URL kept in Vault works, and its value is
    registered for redaction), else the process environment.
    """
    value = _from_secrets_loader(name)
    if value is not None:
        return value
    return os.environ.get(name) or None


def _from_secrets_loader(name: str) -> str | None:
    try:
        from tta_secrets.loader import default_loader
    except ImportError:  # tta_secrets is not installed: the environment alone
        return None
    secret = default_loader().find(name)
    return secret.get_secret_value() if secret is not None else None
