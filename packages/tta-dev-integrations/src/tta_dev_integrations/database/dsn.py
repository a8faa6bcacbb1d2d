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
from urllib.parse import unquote

__all__ = ["dsn_secrets", "lookup_setting", "redact_dsn", "scrub"]

_MASK = "***"
_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#]*)@")
_QUERY_PASSWORD = re.compile(r"([?&](?:password|sslpassword)=)([^&#]*)", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(
    r"(\b(?:password|sslpassword)\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)", re.IGNORECASE
)


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password replaced by ``***``, in URL or ``key=value`` form.

    ``postgresql://app:s3cret@db:5432/main`` -> ``postgresql://app:***@db:5432/main``;
    ``host=db password='s 3' dbname=main`` -> ``host=db password=*** dbname=main``.
    """
    match = _USERINFO.match(dsn)
    if match is not None:
        userinfo = match.group("userinfo")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            dsn = f"{match.group('scheme')}{user}:{_MASK}@{dsn[match.end() :]}"
        return _QUERY_PASSWORD.sub(lambda m: m.group(1) + _MASK, dsn)
    if "://" in dsn:
        return _QUERY_PASSWORD.sub(lambda m: m.group(1) + _MASK, dsn)
    return _KEYWORD_PASSWORD.sub(lambda m: m.group(1) + _MASK, dsn)


def dsn_secrets(dsn: str) -> frozenset[str]:
    """The password(s) in ``dsn``, raw and percent-decoded, to scrub from error text."""
    found: set[str] = set()
    match = _USERINFO.match(dsn)
    if match is not None and ":" in match.group("userinfo"):
        found.add(match.group("userinfo").split(":", 1)[1])
    for pattern in (_QUERY_PASSWORD, _KEYWORD_PASSWORD):
        for m in pattern.finditer(dsn):
            found.add(m.group(2).strip("'"))
    found.update({unquote(value) for value in found})
    return frozenset(value for value in found if value)


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
