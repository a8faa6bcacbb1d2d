"""Checks on a token before any key is looked at: size, shape and header.

Everything here runs on untrusted input, so it is cheap, bounded and strict:
the size is checked before anything is decoded, duplicate JSON members and
non-finite numbers are refused, and the header may not point at keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from typing import Any

from tta_dev_integrations.auth.errors import (
    AlgorithmNotAllowedError,
    ForbiddenHeaderError,
    TokenMalformedError,
    TokenTooLargeError,
)

__all__ = ["DEFAULT_MAX_TOKEN_BYTES", "KID_PATTERN", "check_header", "load_json_object"]

DEFAULT_MAX_TOKEN_BYTES = 8 * 1024
"""Tokens longer than this are refused undecoded (real session tokens are ~1-2 KiB)."""

KID_PATTERN = re.compile(r"[A-Za-z0-9._~+=-]{1,128}")
"""What a ``kid`` may look like by default: no slashes, quotes, spaces or other path/SQL
characters. ``JWTPrimitive(kid_pattern=...)`` replaces it (AWS Cognito kids hold ``/``)."""

#: Header parameters that carry or point at a key: the token would choose its own key.
_KEY_BEARING = ("jwk", "jku", "x5u", "x5c")
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]*")


def check_header(
    token: str,
    algorithms: Sequence[str],
    max_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
    kid_pattern: re.Pattern[str] = KID_PATTERN,
) -> dict[str, Any]:
    """The token's header, once size, shape, ``alg``, ``kid`` and key parameters pass."""
    if len(token) > max_bytes:
        raise TokenTooLargeError(
            f"the token is longer than {max_bytes} bytes and was not decoded; "
            "raise max_token_bytes= if your provider really issues tokens that big"
        )
    segments = token.split(".")
    # An empty signature is let through to be refused for what it is (alg "none", or
    # a signature that does not verify) rather than as a shapeless token.
    if (
        len(segments) != 3
        or not all(_SEGMENT.fullmatch(part) for part in segments[:2])
        or not _SIGNATURE.fullmatch(segments[2])
    ):
        raise TokenMalformedError(
            "the token is not a compact JWS (three base64url parts separated by dots)"
        )
    header = load_json_object(segments[0], "header")
    for name in _KEY_BEARING:
        if name in header:
            raise ForbiddenHeaderError(
                f"the token's header carries {name!r}: keys named or embedded by the token "
                "itself are never used; keys come only from this verifier's configuration"
            )
    if "crit" in header:
        raise ForbiddenHeaderError(
            "the token's header marks extensions as critical ('crit'); none are supported"
        )
    if "b64" in header:
        raise ForbiddenHeaderError("unencoded payloads ('b64' header) are not accepted")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg.strip().lower() == "none":
        raise AlgorithmNotAllowedError("unsigned tokens (alg 'none' or no alg) are never accepted")
    if alg not in algorithms:
        raise AlgorithmNotAllowedError(
            f"the token's algorithm is not in this verifier's allow-list {list(algorithms)}"
        )
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid_pattern.fullmatch(kid)):
        allowed = (
            "1-128 characters of letters, digits and . _ ~ + = -"
            if kid_pattern is KID_PATTERN
            else f"of the form {kid_pattern.pattern!r} (kid_pattern=)"
        )
        raise TokenMalformedError(f"the token's kid is not {allowed}")
    return header


def load_json_object(segment: str, what: str) -> dict[str, Any]:
    """Decode one base64url segment holding a JSON object, strictly."""
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        value = json.loads(raw, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except (binascii.Error, ValueError, RecursionError):
        # `from None`: the parser's message may quote the input, and spans record causes.
        raise TokenMalformedError(f"the token's {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise TokenMalformedError(f"the token's {what} is not a JSON object")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # Two "alg" or two "exp": parsers disagree on which wins, so refuse both.
        raise ValueError("duplicate member")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")
