"""Auth0Primitive and ClerkPrimitive against a real JWKS server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from auth_jwks_server import NOW, FakeClock, JWKSServer, rsa_pair, serve_jwks
from tta_dev_integrations.auth import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    Auth0Primitive,
    ClerkPrimitive,
    InsufficientScopeError,
    IssuerMismatchError,
    Principal,
    TokenExpiredError,
    TokenMissingError,
    TokenNotYetValidError,
    UnauthorizedPartyError,
)
from tta_dev_primitives import WorkflowContext

KEY = rsa_pair("ins_key_1")
DOMAIN = "tenant.eu.auth0.com"
API = "https://api.example.com"
APP = "https://app.example.com"


@pytest.fixture
def jwks_server() -> Iterator[JWKSServer]:
    yield from serve_jwks()


def auth0_claims(**changes: Any) -> dict[str, Any]:
    claims = {
        "iss": f"https://{DOMAIN}/",
        "sub": "auth0|abc123",
        "aud": [API, f"https://{DOMAIN}/userinfo"],
        "iat": NOW,
        "exp": NOW + 86400,
        "scope": "openid read:docs",
        "permissions": ["read:docs", "write:docs"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def auth0(server: JWKSServer, **kwargs: Any) -> Auth0Primitive:
    server.keys = [KEY.jwk()]
    return Auth0Primitive(DOMAIN, API, jwks_url=server.url, clock=FakeClock(), **kwargs)


# -- Auth0 ----------------------------------------------------------------------------


async def test_auth0_accepts_a_tenant_token_with_a_list_audience(jwks_server: JWKSServer) -> None:
    auth = auth0(jwks_server)
    principal = await auth.verify({"Authorization": f"Bearer {KEY.sign(auth0_claims())}"})
    assert principal.subject == "auth0|abc123"
    assert principal.scopes == {"openid", "read:docs", "write:docs"}
    assert principal.token.issuer == f"https://{DOMAIN}/"
    assert jwks_server.requests == 1


def test_auth0_production_defaults() -> None:
    auth = Auth0Primitive(DOMAIN, API)
    assert auth.issuer == f"https://{DOMAIN}/"
    assert auth.verifier.key_set.url == f"https://{DOMAIN}/.well-known/jwks.json"  # type: ignore[attr-defined]
    assert auth.verifier.algorithms == ("RS256",)
    assert auth.verifier.rules.audiences == {API}


@pytest.mark.parametrize(
    "domain", [f"https://{DOMAIN}", f"{DOMAIN}/", "tenant", f"{DOMAIN}/path", "a b.com", ""]
)
def test_auth0_domain_must_be_a_bare_host(domain: str) -> None:
    with pytest.raises(ValueError, match="host name"):
        Auth0Primitive(domain, API)


def test_auth0_jwks_override_may_not_be_plain_http_to_a_remote_host() -> None:
    with pytest.raises(ValueError, match="https://"):
        Auth0Primitive(DOMAIN, API, jwks_url="http://evil.example/.well-known/jwks.json")


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"iss": f"https://{DOMAIN}"}, IssuerMismatchError),  # missing trailing slash
        ({"iss": f"https://{DOMAIN}.evil.io/"}, IssuerMismatchError),
        ({"iss": f"http://{DOMAIN}/"}, IssuerMismatchError),
        ({"aud": "https://other-api.example.com"}, AudienceMismatchError),
        ({"aud": None}, AudienceMismatchError),
        ({"exp": NOW - 5}, TokenExpiredError),  # now == exp + leeway (5 s)
    ],
)
async def test_auth0_rejections(jwks_server: JWKSServer, changes: Any, error: type) -> None:
    auth = auth0(jwks_server)
    with pytest.raises(error):
        await auth.verify(KEY.sign(auth0_claims(**changes)))


async def test_auth0_refuses_hs256_even_signed_with_the_public_key(
    jwks_server: JWKSServer,
) -> None:
    import jwt

    auth = auth0(jwks_server)
    token = jwt.encode(auth0_claims(), "x" * 64, algorithm="HS256", headers={"kid": KEY.kid})
    with pytest.raises(AlgorithmNotAllowedError):
        await auth.verify(token)


async def test_auth0_scopes_and_permissions_are_checked_apart(jwks_server: JWKSServer) -> None:
    scoped = auth0(jwks_server, required_scopes=["read:docs"])
    assert (await scoped.verify(KEY.sign(auth0_claims()))).subject == "auth0|abc123"
    # write:docs is a permission, not a scope: required_scopes looks at `scope` only.
    writer = auth0(jwks_server, required_scopes=["write:docs"])
    with pytest.raises(InsufficientScopeError, match=r"scope\(s\): write:docs") as caught:
        await writer.verify(KEY.sign(auth0_claims()))
    assert caught.value.status_code == 403
    perms = auth0(jwks_server, required_permissions=["write:docs", "delete:docs"])
    with pytest.raises(InsufficientScopeError, match=r"permission\(s\): delete:docs"):
        await perms.verify(KEY.sign(auth0_claims(scope="delete:docs")))
    enough = auth0(jwks_server, required_permissions=["write:docs"])
    assert (await enough.verify(KEY.sign(auth0_claims()))).subject == "auth0|abc123"


async def test_auth0_composes_into_a_workflow(jwks_server: JWKSServer) -> None:
    async def handler(principal: Principal) -> dict[str, str]:
        return {"hello": principal.subject}

    workflow = auth0(jwks_server) >> handler
    headers = {"authorization": f"Bearer {KEY.sign(auth0_claims())}"}
    assert await workflow.execute(headers, WorkflowContext()) == {"hello": "auth0|abc123"}
    with pytest.raises(TokenMissingError):
        await workflow.execute({"x-other": "1"}, WorkflowContext())


# -- Clerk ----------------------------------------------------------------------------


def clerk_claims(server: JWKSServer, **changes: Any) -> dict[str, Any]:
    claims = {
        "azp": APP,
        "exp": NOW + 60,
        "iat": NOW,
        "iss": server.base_url,
        "nbf": NOW - 10,
        "sid": "sess_123",
        "sub": "user_2abc",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def clerk(server: JWKSServer, **kwargs: Any) -> ClerkPrimitive:
    server.keys = [KEY.jwk()]
    kwargs.setdefault("authorized_parties", [APP, "http://localhost:3000"])
    return ClerkPrimitive(server.base_url + "/", clock=FakeClock(), **kwargs)


async def test_clerk_reads_the_header_or_the_session_cookie(jwks_server: JWKSServer) -> None:
    auth = clerk(jwks_server)
    token = KEY.sign(clerk_claims(jwks_server))
    by_header = await auth.verify({"Authorization": f"Bearer {token}"})
    by_cookie = await auth.verify({"Cookie": f"__client_uat=1700000000; __session={token}"})
    assert by_header.subject == by_cookie.subject == "user_2abc"
    assert by_cookie.claims["sid"] == "sess_123"
    with pytest.raises(TokenMissingError, match="'__session' cookie"):
        await auth.verify({"Cookie": "__client_uat=0"})


@pytest.mark.parametrize(
    ("changes", "kwargs", "error"),
    [
        ({"azp": "https://evil.example.com"}, {}, UnauthorizedPartyError),
        ({"azp": APP + "/"}, {}, UnauthorizedPartyError),
        ({"azp": None}, {}, UnauthorizedPartyError),
        ({"exp": NOW - 5}, {}, TokenExpiredError),
        ({"nbf": NOW + 6}, {}, TokenNotYetValidError),
        ({"iss": "https://clerk.other.example.com"}, {}, IssuerMismatchError),
        ({"aud": "something"}, {}, AudienceMismatchError),
    ],
)
async def test_clerk_rejections(
    jwks_server: JWKSServer, changes: Any, kwargs: Any, error: type
) -> None:
    auth = clerk(jwks_server, **kwargs)
    token = KEY.sign(clerk_claims(jwks_server, **changes))
    with pytest.raises(error) as caught:
        await auth.verify({"cookie": f"__session={token}"})
    if error is UnauthorizedPartyError:
        assert caught.value.status_code == 403
        assert "evil" not in str(caught.value)


async def test_clerk_and_auth0_allow_five_seconds_of_clock_skew(jwks_server: JWKSServer) -> None:
    token = KEY.sign(clerk_claims(jwks_server, exp=NOW - 4, nbf=NOW + 5, iat=NOW + 5))
    assert (await clerk(jwks_server).verify(token)).subject == "user_2abc"
    strict = clerk(jwks_server, leeway=0)
    with pytest.raises(TokenExpiredError):
        await strict.verify(token)
    auth0_token = KEY.sign(auth0_claims(exp=NOW - 4, iat=NOW + 5))
    assert (await auth0(jwks_server).verify(auth0_token)).subject == "auth0|abc123"


async def test_clerk_azp_options(jwks_server: JWKSServer) -> None:
    no_azp = KEY.sign(clerk_claims(jwks_server, azp=None))
    lenient = clerk(jwks_server, allow_missing_azp=True)
    assert (await lenient.verify(no_azp)).subject == "user_2abc"
    with pytest.raises(UnauthorizedPartyError):  # a wrong azp is still refused
        await lenient.verify(KEY.sign(clerk_claims(jwks_server, azp="https://evil.example")))
    unrestricted = clerk(jwks_server, authorized_parties=None)
    assert (await unrestricted.verify(no_azp)).subject == "user_2abc"
    with_aud = clerk(jwks_server, audience="my-backend")
    assert (await with_aud.verify(KEY.sign(clerk_claims(jwks_server, aud="my-backend")))).subject


async def test_clerk_networkless_with_the_pem_key(jwks_server: JWKSServer) -> None:
    jwks_server.keys = []
    auth = ClerkPrimitive(
        pem_public_key=KEY.public_pem, authorized_parties=[APP], clock=FakeClock()
    )
    token = KEY.sign(clerk_claims(jwks_server, iss="https://clerk.example.com"))
    assert (await auth.verify(token)).subject == "user_2abc"
    checked = ClerkPrimitive(
        "https://clerk.example.com",
        pem_public_key=KEY.public_pem,
        authorized_parties=[APP],
        clock=FakeClock(),
    )
    assert (await checked.verify(token)).subject == "user_2abc"
    with pytest.raises(IssuerMismatchError):
        await checked.verify(KEY.sign(clerk_claims(jwks_server)))
    assert jwks_server.requests == 0


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {}, "frontend_api_url="),
        (("clerk.example.com",), {}, "https://"),
        (("http://clerk.example.com",), {}, "https://"),
        (("https://clerk.example.com",), {"authorized_parties": APP}, "list of origins"),
    ],
)
def test_clerk_configuration_errors(args: Any, kwargs: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        ClerkPrimitive(*args, **kwargs)


def test_clerk_production_defaults() -> None:
    auth = ClerkPrimitive("https://clerk.example.com/", authorized_parties=[APP])
    assert auth.verifier.rules.issuer == "https://clerk.example.com"
    assert auth.verifier.key_set.url == "https://clerk.example.com/.well-known/jwks.json"  # type: ignore[attr-defined]
    assert auth.verifier.cookie_name == "__session"
