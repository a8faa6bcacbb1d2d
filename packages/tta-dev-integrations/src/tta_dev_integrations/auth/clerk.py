"""``ClerkPrimitive``: verify a Clerk session token from the header or the ``__session`` cookie.

Follows Clerk's manual verification guide: the token comes from ``Authorization:
Bearer`` (cross-origin) or the ``__session`` cookie (same-origin); the signature is
checked with the instance's key (the Frontend API's JWKS, or the PEM from the
dashboard); ``exp`` and ``nbf`` are checked; ``azp`` must be one of the
authorized parties.

About a token without ``azp``: Clerk's guide lets it through. Here, when
``authorized_parties`` is set, a token without ``azp`` is refused
(:class:`UnauthorizedPartyError`), because the point of the list is to accept only
tokens minted for those origins; pass ``allow_missing_azp=True`` to follow Clerk's
guide (e.g. native apps, whose tokens carry no origin).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from tta_dev_integrations.auth.headers import TokenInput
from tta_dev_integrations.auth.jwks import check_key_url
from tta_dev_integrations.auth.jwt import JWTPrimitive
from tta_dev_integrations.auth.principal import Principal
from tta_dev_integrations.auth.token import KID_PATTERN
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive

__all__ = ["ClerkPrimitive"]

if TYPE_CHECKING:
    import httpx

SESSION_COOKIE = "__session"


class ClerkPrimitive(WorkflowPrimitive[TokenInput, Principal]):
    """Verify Clerk session tokens (RS256) into a :class:`Principal`.

    Give ``frontend_api_url`` (e.g. ``https://clerk.example.com``): keys come from
    its ``/.well-known/jwks.json`` and ``iss`` must equal it. Or give
    ``pem_public_key`` for networkless verification (then ``iss`` is checked only
    if ``frontend_api_url`` is given too). ``jwks_url`` overrides the key location
    (plain http only for loopback hosts, for tests). Session tokens carry no
    ``aud`` unless a custom template adds one: then pass ``audience=``.
    ``leeway`` defaults to 5 s of clock skew, like Clerk's own SDK.
    """

    def __init__(
        self,
        frontend_api_url: str | None = None,
        *,
        pem_public_key: str | bytes | None = None,
        authorized_parties: Sequence[str] | None = None,
        allow_missing_azp: bool = False,
        audience: str | Sequence[str] | None = None,
        leeway: float = 5.0,
        kid_pattern: str | re.Pattern[str] = KID_PATTERN,
        jwks_url: str | None = None,
        jwks_cooldown: float = 30.0,
        jwks_max_age: float = 600.0,
        http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
    ) -> None:
        if frontend_api_url is None and pem_public_key is None:
            raise ValueError(
                "pass frontend_api_url= (Clerk dashboard > API keys) or pem_public_key="
            )
        issuer = None
        if frontend_api_url is not None:
            issuer = check_key_url(frontend_api_url.rstrip("/"), "frontend_api_url")
        if pem_public_key is None and jwks_url is None:
            jwks_url = f"{issuer}/.well-known/jwks.json"
        self.verifier = JWTPrimitive(
            algorithms=["RS256"],
            public_key=pem_public_key,
            jwks_url=jwks_url if pem_public_key is None else None,
            issuer=issuer,
            audience=audience,
            leeway=leeway,
            authorized_parties=authorized_parties,
            allow_missing_azp=allow_missing_azp,
            kid_pattern=kid_pattern,
            cookie_name=SESSION_COOKIE,
            jwks_cooldown=jwks_cooldown,
            jwks_max_age=jwks_max_age,
            http_client=http_client,
            clock=clock,
        )
        self.authorized_parties = self.verifier.rules.authorized_parties
        self.allow_missing_azp = allow_missing_azp
        self.name = name or ""

    async def _execute_impl(self, input_data: TokenInput, context: WorkflowContext) -> Principal:
        return await self.verify(input_data)

    async def verify(self, token_or_headers: TokenInput) -> Principal:
        """The principal of a valid Clerk session token; one :class:`AuthError` otherwise."""
        return await self.verifier.verify(token_or_headers)
