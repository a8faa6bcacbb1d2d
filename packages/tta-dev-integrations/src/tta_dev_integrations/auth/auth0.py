"""``Auth0Primitive``: verify an Auth0 access token for one API (audience)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from tta_dev_integrations.auth.errors import InsufficientScopeError
from tta_dev_integrations.auth.headers import TokenInput
from tta_dev_integrations.auth.jwt import JWTPrimitive
from tta_dev_integrations.auth.principal import Principal
from tta_dev_integrations.auth.token import KID_PATTERN
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive

__all__ = ["Auth0Primitive"]

if TYPE_CHECKING:
    import httpx

_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")


class Auth0Primitive(WorkflowPrimitive[TokenInput, Principal]):
    """Verify Auth0 access tokens: RS256, issuer ``https://{domain}/``, your API's audience.

    Keys come from ``https://{domain}/.well-known/jwks.json``. ``required_scopes``
    are checked against the ``scope`` claim, ``required_permissions`` against the
    ``permissions`` claim (Auth0 RBAC, "Add Permissions in the Access Token").
    ``jwks_url`` replaces the key location only (e.g. a loopback server in tests;
    plain http is accepted for loopback hosts only); the issuer stays exact.
    ``leeway`` defaults to 5 s of clock skew for ``exp``, ``nbf`` and ``iat``.

    ``authorized_parties`` lists the client ids (your applications) whose tokens
    are accepted: Auth0 names the client in ``azp`` (or ``client_id`` in its RFC 9068
    token profile), and a token minted for another application of the tenant is
    refused. A token naming no client is refused too unless ``allow_missing_azp=True``.
    """

    def __init__(
        self,
        domain: str,
        audience: str | Sequence[str],
        *,
        required_scopes: Sequence[str] = (),
        required_permissions: Sequence[str] = (),
        authorized_parties: Sequence[str] | None = None,
        allow_missing_azp: bool = False,
        leeway: float = 5.0,
        kid_pattern: str | re.Pattern[str] = KID_PATTERN,
        jwks_url: str | None = None,
        jwks_cooldown: float = 30.0,
        jwks_max_age: float = 600.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
    ) -> None:
        if not _DOMAIN.fullmatch(domain):
            raise ValueError(
                "domain= is a host name such as 'your-tenant.us.auth0.com' (no scheme, "
                "no path, no trailing slash)"
            )
        self.domain = domain
        self.issuer = f"https://{domain}/"
        self.required_scopes = frozenset(required_scopes)
        self.required_permissions = frozenset(required_permissions)
        self.verifier = JWTPrimitive(
            algorithms=["RS256"],
            jwks_url=jwks_url or f"https://{domain}/.well-known/jwks.json",
            issuer=self.issuer,
            audience=audience,
            authorized_parties=authorized_parties,
            allow_missing_azp=allow_missing_azp,
            kid_pattern=kid_pattern,
            leeway=leeway,
            jwks_cooldown=jwks_cooldown,
            jwks_max_age=jwks_max_age,
            http_client=http_client,
            clock=clock,
        )
        # Auth0's RFC 9068 access token profile names the client in client_id, not azp.
        self.verifier.rules = replace(self.verifier.rules, party_claims=("azp", "client_id"))
        self.name = name or ""

    async def _execute_impl(self, input_data: TokenInput, context: WorkflowContext) -> Principal:
        return await self.verify(input_data)

    async def verify(self, token_or_headers: TokenInput) -> Principal:
        """The principal of a valid Auth0 access token; one :class:`AuthError` otherwise."""
        principal = await self.verifier.verify(token_or_headers)
        scope = principal.claims.get("scope")
        granted = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        missing = self.required_scopes - granted
        if missing:
            raise InsufficientScopeError(missing, "scope")
        permissions = principal.claims.get("permissions")
        held = frozenset(
            p for p in (permissions if isinstance(permissions, list) else ()) if isinstance(p, str)
        )
        missing = self.required_permissions - held
        if missing:
            raise InsufficientScopeError(missing, "permission")
        return principal
