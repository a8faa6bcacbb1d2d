"""Checks on a verified payload: time claims, issuer, audience, authorized party, scopes.

Time is injected (``now``), so the boundaries are exact and testable:

* ``exp``: valid while ``now < exp + leeway``; at ``now == exp + leeway`` it has expired
  (RFC 7519 4.1.4: the current time must be *before* ``exp``);
* ``nbf``: valid once ``now >= nbf - leeway`` (4.1.5: *after or equal to* ``nbf``);
* ``iat``: a token issued more than ``leeway`` seconds in the future is not yet valid.

Every claim's type is checked before its value is used: a signed token with a list
where a string belongs is a :class:`TokenMalformedError`, never a ``TypeError``.

The authorized party (``azp``, OpenID Connect Core 2): with ``authorized_parties``
set, a present ``azp`` that is not listed is refused (:class:`UnauthorizedPartyError`),
and so is a token without one unless ``allow_missing_azp`` is set: a list of parties
means "only tokens minted for these", which a token naming no party cannot show.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tta_dev_integrations.auth.errors import (
    AudienceMismatchError,
    InsufficientScopeError,
    IssuerMismatchError,
    MissingClaimError,
    TokenExpiredError,
    TokenMalformedError,
    TokenNotYetValidError,
    UnauthorizedPartyError,
)
from tta_dev_integrations.auth.principal import scopes_of

__all__ = ["ClaimRules", "check_claims", "token_audiences"]


@dataclass(frozen=True, slots=True)
class ClaimRules:
    """What a verifier demands of a payload."""

    issuer: str | None = None
    audiences: frozenset[str] | None = None
    leeway: float = 0.0
    require_exp: bool = True
    required_claims: tuple[str, ...] = ()
    required_scopes: frozenset[str] = frozenset()
    #: The ``azp`` values accepted; ``None`` checks no party.
    authorized_parties: frozenset[str] | None = None
    allow_missing_azp: bool = False
    #: Where the party is read, first present wins (Auth0's RFC 9068 profile: client_id).
    party_claims: tuple[str, ...] = ("azp",)


def check_claims(claims: Mapping[str, Any], rules: ClaimRules, now: float) -> None:
    """Raise the one :class:`AuthError` that says why ``claims`` fail ``rules``."""
    subject = claims.get("sub")
    if subject is None:
        raise MissingClaimError("sub", "every principal needs a subject")
    if not isinstance(subject, str) or not subject:
        raise TokenMalformedError("the token's sub claim is not a non-empty string")
    for name in rules.required_claims:
        if claims.get(name) is None:
            raise MissingClaimError(name)
    _check_times(claims, rules, now)
    _check_issuer(claims, rules.issuer)
    _check_audience(claims, rules.audiences)
    _check_party(claims, rules)
    if rules.required_scopes:
        missing = rules.required_scopes - scopes_of(claims)
        if missing:
            raise InsufficientScopeError(frozenset(missing))


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenMalformedError(f"the token's {name} claim is not a number of seconds")
    return float(value)


def _check_times(claims: Mapping[str, Any], rules: ClaimRules, now: float) -> None:
    exp = _number(claims, "exp")
    nbf = _number(claims, "nbf")
    iat = _number(claims, "iat")
    if exp is None:
        if rules.require_exp:
            raise MissingClaimError("exp", "tokens without an expiry are refused")
    elif now >= exp + rules.leeway:
        raise TokenExpiredError(
            f"the token has expired (leeway {rules.leeway:g} s); sign in again or refresh it"
        )
    if nbf is not None and now < nbf - rules.leeway:
        raise TokenNotYetValidError(
            f"the token is not valid yet (nbf is in the future, leeway {rules.leeway:g} s); "
            "check the clocks of the issuer and this host"
        )
    if iat is not None and iat > now + rules.leeway:
        raise TokenNotYetValidError(
            f"the token was issued in the future (iat, leeway {rules.leeway:g} s); "
            "check the clocks of the issuer and this host"
        )


def _check_issuer(claims: Mapping[str, Any], issuer: str | None) -> None:
    if issuer is None:
        return
    token_issuer = claims.get("iss")
    if token_issuer is None:
        raise IssuerMismatchError(f"the token has no iss claim; expected {issuer!r}")
    if not isinstance(token_issuer, str):
        raise TokenMalformedError("the token's iss claim is not a string")
    if token_issuer != issuer:
        raise IssuerMismatchError(
            f"the token's iss is not exactly {issuer!r} (compared as whole strings, "
            "trailing slash included)"
        )


def token_audiences(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """The token's ``aud`` as a tuple (a string or a list of strings in the token)."""
    aud = claims.get("aud")
    if aud is None:
        return ()
    if isinstance(aud, str):
        return (aud,)
    if isinstance(aud, list) and all(isinstance(a, str) for a in aud):
        return tuple(aud)
    raise TokenMalformedError("the token's aud claim is neither a string nor a list of strings")


def _check_audience(claims: Mapping[str, Any], audiences: frozenset[str] | None) -> None:
    token_aud = token_audiences(claims)
    if audiences is None:
        if token_aud:
            raise AudienceMismatchError(
                "the token is addressed to an audience but this verifier expects none; "
                "pass audience= with your API's identifier"
            )
        return
    expected = sorted(audiences)
    if not token_aud:
        raise AudienceMismatchError(f"the token has no aud claim; expected one of {expected}")
    if audiences.isdisjoint(token_aud):
        raise AudienceMismatchError(f"the token's aud names none of {expected}")


def _check_party(claims: Mapping[str, Any], rules: ClaimRules) -> None:
    parties = rules.authorized_parties
    if parties is None:
        return
    name = next((n for n in rules.party_claims if claims.get(n) is not None), None)
    if name is None:
        if rules.allow_missing_azp:
            return
        raise UnauthorizedPartyError(
            f"the token has no {' or '.join(rules.party_claims)} claim, so the client it was "
            "minted for cannot be checked against authorized_parties; pass "
            "allow_missing_azp=True to accept such tokens"
        )
    party = claims[name]
    if not isinstance(party, str):
        raise TokenMalformedError(f"the token's {name} claim is not a string")
    if party not in parties:
        raise UnauthorizedPartyError(
            f"the token's {name} is not one of the authorized parties {sorted(parties)}; "
            "add the client to authorized_parties= if it should be let in"
        )
