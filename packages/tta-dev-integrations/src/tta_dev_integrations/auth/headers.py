"""Finding the token: a bare string, or request headers (``Authorization`` or a cookie)."""

from __future__ import annotations

from collections.abc import Mapping

from tta_dev_integrations.auth.errors import TokenMalformedError, TokenMissingError

__all__ = ["TokenInput", "token_from_input"]

TokenInput = str | Mapping[str, str]
"""What an auth primitive accepts: a token, or request headers (names case-insensitive)."""

_BEARER = "bearer"


def token_from_input(value: object, *, cookie_name: str | None = None) -> str:
    """The token in ``value``: a token string, or a mapping of request headers.

    From headers, ``Authorization: Bearer <token>`` comes first; then, when
    ``cookie_name`` is given, that cookie of the ``Cookie`` header (Clerk's
    ``__session``). A ``Bearer`` prefix on a bare string is accepted too.
    Raises :class:`TokenMissingError` when there is none.
    """
    if isinstance(value, str):
        token = _strip_bearer(value) if " " in value.strip() else value.strip()
        if not token:
            raise TokenMissingError("the token is empty; pass the JWT or the request headers")
        return token
    if isinstance(value, Mapping):
        return _token_from_headers(value, cookie_name)
    raise TokenMissingError(
        f"cannot read a token from a {type(value).__name__}; pass the JWT as a str "
        "or the request headers as a mapping"
    )


def _token_from_headers(headers: Mapping[object, object], cookie_name: str | None) -> str:
    authorization: str | None = None
    cookie: str | None = None
    for name, header_value in headers.items():
        if not isinstance(name, str) or not isinstance(header_value, str):
            continue
        lowered = name.lower()
        if lowered == "authorization":
            authorization = header_value
        elif lowered == "cookie":
            cookie = header_value
    if authorization is not None and authorization.strip():
        return _strip_bearer(authorization)
    if cookie_name is not None and cookie is not None:
        token = _cookie_value(cookie, cookie_name)
        if token:
            return token
    where = "an `Authorization: Bearer <token>` header"
    if cookie_name is not None:
        where += f" or a {cookie_name!r} cookie"
    raise TokenMissingError(f"the request has no token; send {where}")


def _strip_bearer(value: str) -> str:
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != _BEARER:
        raise TokenMissingError(
            "the Authorization header does not use the Bearer scheme; "
            "send `Authorization: Bearer <token>`"
        )
    token = token.strip()
    if not token:
        raise TokenMissingError("the Bearer credentials are empty; send the JWT after `Bearer `")
    if " " in token:
        raise TokenMalformedError("the Bearer credentials contain spaces; a JWT has none")
    return token


def _cookie_value(cookie_header: str, name: str) -> str | None:
    # Split by hand: http.cookies stops at the first cookie it cannot parse, and
    # browsers send plenty of those next to the one we want.
    for pair in cookie_header.split(";"):
        key, sep, cookie_value = pair.partition("=")
        if sep and key.strip() == name:
            cookie_value = cookie_value.strip()
            if len(cookie_value) >= 2 and cookie_value[0] == cookie_value[-1] == '"':
                cookie_value = cookie_value[1:-1]
            return cookie_value
    return None
