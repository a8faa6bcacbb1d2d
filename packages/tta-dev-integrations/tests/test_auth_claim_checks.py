"""Authorized parties, claim types, asymmetric keys as HMAC secrets, and kid patterns.

The claim-type test is property-based: tokens signed with the real key, where one
claim at a time holds a JSON value of any type. Whatever the value, each primitive
answers with a principal or one ``AuthError`` (a server answers 401/403, never 500).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import re
from collections.abc import Iterator
from typing import Any

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auth_jwks_server import NOW, FakeClock, JWKSServer, ec_pair, ed_pair, rsa_pair, serve_jwks
from tta_dev_integrations.auth import (
    Auth0Primitive,
    AuthError,
    ClerkPrimitive,
    JWTPrimitive,
    Principal,
    TokenMalformedError,
    UnauthorizedPartyError,
)

KEY = rsa_pair("kid-1")
DOMAIN = "tenant.eu.auth0.com"
ISSUER = f"https://{DOMAIN}/"
API = "https://api.example.com"
CLIENT = "my-spa-client-id"


@pytest.fixture(scope="module")
def server() -> Iterator[JWKSServer]:
    for running in serve_jwks():
        running.keys = [KEY.jwk()]
        yield running


def jwt(**kwargs: Any) -> JWTPrimitive:
    return JWTPrimitive(
        algorithms=["RS256"],
        public_key=KEY.public_pem,
        issuer=ISSUER,
        audience=API,
        clock=FakeClock(),
        **kwargs,
    )


def auth0(server: JWKSServer, **kwargs: Any) -> Auth0Primitive:
    return Auth0Primitive(DOMAIN, API, jwks_url=server.url, clock=FakeClock(), **kwargs)


def clerk(server: JWKSServer, **kwargs: Any) -> ClerkPrimitive:
    return ClerkPrimitive(server.base_url, clock=FakeClock(), **kwargs)


def sign_any(payload: dict[str, Any]) -> str:
    """Signed by the real key over any JSON (PyJWT's encoder refuses a non-string iss)."""
    body = json.dumps(payload).encode()
    return pyjwt.PyJWS().encode(body, KEY.private, algorithm="RS256", headers={"kid": KEY.kid})


def claims(**changes: Any) -> dict[str, Any]:
    base = {"iss": ISSUER, "sub": "auth0|1", "aud": API, "iat": NOW, "exp": NOW + 600}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def clerk_claims(server: JWKSServer, **changes: Any) -> dict[str, Any]:
    base = {"iss": server.base_url, "sub": "user_1", "iat": NOW, "nbf": NOW, "exp": NOW + 60}
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


# --- authorized parties (azp) ---------------------------------------------------------


async def test_jwt_refuses_a_token_minted_for_another_client() -> None:
    auth = jwt(authorized_parties=[CLIENT])
    assert (await auth.verify(KEY.sign(claims(azp=CLIENT)))).subject == "auth0|1"
    with pytest.raises(UnauthorizedPartyError) as caught:
        await auth.verify(KEY.sign(claims(azp="another-client-of-the-tenant")))
    assert caught.value.status_code == 403
    assert "another-client" not in str(caught.value)  # token contents never shown


async def test_without_authorized_parties_azp_is_not_checked() -> None:
    principal = await jwt().verify(KEY.sign(claims(azp="any-client")))
    assert principal.claims["azp"] == "any-client"


async def test_a_missing_azp_is_refused_unless_allowed() -> None:
    with pytest.raises(UnauthorizedPartyError, match="allow_missing_azp"):
        await jwt(authorized_parties=[CLIENT]).verify(KEY.sign(claims()))
    auth = jwt(authorized_parties=[CLIENT], allow_missing_azp=True)
    assert (await auth.verify(KEY.sign(claims()))).subject == "auth0|1"
    with pytest.raises(UnauthorizedPartyError):  # a present azp is still checked
        await auth.verify(KEY.sign(claims(azp="other")))


async def test_auth0_takes_a_list_of_client_ids(server: JWKSServer) -> None:
    auth = auth0(server, authorized_parties=[CLIENT, "my-cli-client-id"])
    for client in (CLIENT, "my-cli-client-id"):
        assert (await auth.verify(KEY.sign(claims(azp=client)))).subject == "auth0|1"
    # Auth0's RFC 9068 profile names the client in client_id.
    assert (await auth.verify(KEY.sign(claims(client_id=CLIENT)))).subject == "auth0|1"
    for other in ({"azp": "other"}, {"client_id": "other"}, {}):
        with pytest.raises(UnauthorizedPartyError):
            await auth.verify(KEY.sign(claims(**other)))


async def test_clerk_azp_of_the_wrong_type_is_malformed_not_a_crash(server: JWKSServer) -> None:
    auth = clerk(server, authorized_parties=["https://app.example.com"])
    for azp in (["https://app.example.com"], {"origin": "x"}, 1, True):
        with pytest.raises(TokenMalformedError, match="azp"):
            await auth.verify(KEY.sign(clerk_claims(server, azp=azp)))


@pytest.mark.parametrize("bad", ["a", "", [], ["a", 1], [""]])
def test_authorized_parties_must_be_a_list_of_strings(bad: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="authorized_parties"):
        jwt(authorized_parties=bad)


# --- claim types: any JSON value in any claim -----------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
CLAIM_NAMES = [
    "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "azp", "client_id",
    "scope", "permissions", "sid", "org_id",
]  # fmt: skip


@pytest.fixture(scope="module")
def verifiers(server: JWKSServer) -> list[tuple[Any, Any]]:
    """Each primitive with every check switched on, and the claims it accepts."""
    return [
        (
            jwt(authorized_parties=[CLIENT], required_scopes=["read"], required_claims=["jti"]),
            lambda: claims(azp=CLIENT, scope="read", jti="id-1"),
        ),
        (
            auth0(
                server,
                authorized_parties=[CLIENT],
                required_scopes=["read"],
                required_permissions=["write"],
            ),
            lambda: claims(azp=CLIENT, scope="read", permissions=["write"]),
        ),
        (
            clerk(server, authorized_parties=["https://app.example.com"]),
            lambda: clerk_claims(server, azp="https://app.example.com"),
        ),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(which=st.integers(0, 2), name=st.sampled_from(CLAIM_NAMES), value=JSON)
def test_any_json_value_in_any_claim_gives_a_principal_or_an_auth_error(
    verifiers: list[tuple[Any, Any]], which: int, name: str, value: Any
) -> None:
    verifier, good = verifiers[which]
    token = sign_any({**good(), name: value})
    try:
        result: Principal | AuthError = asyncio.run(verifier.verify(token))
    except AuthError as error:
        result = error
    if isinstance(result, AuthError):
        assert result.status_code in (401, 403)
    else:
        assert isinstance(result, Principal)
        assert isinstance(result.subject, str)


async def test_the_control_tokens_pass_every_verifier(verifiers: list[tuple[Any, Any]]) -> None:
    for verifier, good in verifiers:
        assert isinstance(await verifier.verify(KEY.sign(good())), Principal)


async def test_an_issuer_that_is_not_a_string_is_malformed() -> None:
    with pytest.raises(TokenMalformedError, match="iss"):
        await jwt().verify(sign_any(claims(iss=[ISSUER])))


# --- asymmetric keys are never HMAC secrets, in any encoding ---------------------------


def _certificate(private: Any) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.com")])
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )


def _der_forms() -> dict[str, bytes]:
    rsa, ec, ed = KEY, ec_pair("e"), ed_pair("d")
    enc, fmt = serialization.Encoding, serialization.PublicFormat
    spki = rsa.public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo)
    private_der = rsa.private.private_bytes(
        enc.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    encrypted_der = rsa.private.private_bytes(
        enc.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass-phrase"),
    )
    return {
        "rsa-spki-der": spki,
        "rsa-pkcs1-der": rsa.public.public_bytes(enc.DER, fmt.PKCS1),
        "ec-spki-der": ec.public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "ed25519-spki-der": ed.public.public_bytes(enc.DER, fmt.SubjectPublicKeyInfo),
        "rsa-private-der": private_der,
        "rsa-encrypted-private-der": encrypted_der,
        "base64-der": base64.b64encode(spki),
        "base64-der-wrapped": b"\n".join(
            base64.b64encode(spki)[i : i + 64] for i in range(0, len(base64.b64encode(spki)), 64)
        ),
        "base64url-der": base64.urlsafe_b64encode(spki).rstrip(b"="),
        "openssh": rsa.public.public_bytes(enc.OpenSSH, fmt.OpenSSH),
        "certificate-der": _certificate(rsa.private).public_bytes(enc.DER),
        "certificate-base64-der": base64.b64encode(_certificate(rsa.private).public_bytes(enc.DER)),
        "pem-with-leading-space": b"  " + rsa.public_pem,
    }


@pytest.mark.parametrize("form", sorted(_der_forms()))
def test_an_asymmetric_key_in_any_encoding_is_refused_as_a_secret(form: str) -> None:
    secret = _der_forms()[form]
    with pytest.raises(ValueError, match="asymmetric key"):
        JWTPrimitive(algorithms=["HS256"], secret=secret)
    if secret.isascii():  # the text forms, also given as str
        with pytest.raises(ValueError, match="asymmetric key"):
            JWTPrimitive(algorithms=["HS256"], secret=secret.decode())


@pytest.mark.parametrize(
    "secret",
    [
        b"0" * 64,  # starts like DER (0x30) but is not
        base64.b64encode(b"random-bytes-random-bytes-random-bytes-12"),
        b"\x30\x82" + b"\x01" * 62,
    ],
)
def test_ordinary_secrets_are_still_accepted(secret: bytes) -> None:
    JWTPrimitive(algorithms=["HS256"], secret=secret)


# --- kid patterns -----------------------------------------------------------------------

COGNITO_KID = "abcdefghijklmnopqrsexample/1234567890+ABC="
COGNITO = re.compile(r"[A-Za-z0-9+/=._-]{1,128}")


async def test_a_cognito_kid_is_refused_by_default_and_accepted_with_a_pattern() -> None:
    token = KEY.sign(claims(), kid=COGNITO_KID)
    with pytest.raises(TokenMalformedError, match="kid"):
        await jwt().verify(token)
    assert (await jwt(kid_pattern=COGNITO).verify(token)).token.key_id == COGNITO_KID
    assert (await jwt(kid_pattern=COGNITO.pattern).verify(token)).subject == "auth0|1"


async def test_a_custom_pattern_still_refuses_what_it_does_not_match() -> None:
    auth = jwt(kid_pattern=COGNITO)
    for kid in ("../../etc/passwd x", "k'; DROP", "k" * 129, ""):
        with pytest.raises(TokenMalformedError, match="kid_pattern"):
            await auth.verify(KEY.sign(claims(), kid=kid))
