"""What a verified token says: :class:`Principal` and its :class:`TokenInfo`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["Principal", "TokenInfo", "scopes_of"]


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """Metadata of the verified token; never the token text itself."""

    algorithm: str
    key_id: str | None
    issuer: str | None
    audience: tuple[str, ...]
    issued_at: float | None
    expires_at: float | None
    not_before: float | None
    token_id: str | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, as proven by a verified token.

    ``scopes`` joins the space-separated ``scope`` claim and the ``permissions``
    list (Auth0 RBAC). ``claims`` is a read-only copy of the whole payload; it is
    left out of ``repr`` because it may hold personal data.
    """

    subject: str
    scopes: frozenset[str]
    claims: Mapping[str, Any] = field(repr=False)
    token: TokenInfo

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any], token: TokenInfo) -> Principal:
        """Build a principal from verified claims (``sub`` must be a string)."""
        return cls(
            subject=str(claims["sub"]),
            scopes=scopes_of(claims),
            claims=MappingProxyType(dict(claims)),
            token=token,
        )

    def has_scopes(self, *required: str) -> bool:
        """Whether every one of ``required`` is among the scopes."""
        return self.scopes.issuperset(required)


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """The scopes a payload grants: ``scope`` (space-separated) plus ``permissions``."""
    scopes: set[str] = set()
    scope = claims.get("scope")
    if isinstance(scope, str):
        scopes.update(scope.split())
    permissions = claims.get("permissions")
    if isinstance(permissions, list):
        scopes.update(p for p in permissions if isinstance(p, str))
    return frozenset(scopes)
