"""The battery of forged tokens: every one rejected, each with the right error.

The verifiers get their keys from a real JWKS server on loopback. The battery's size
is counted here and must be stated in the package README as "N forged tokens, 0 accepted".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwt.algorithms import RSAAlgorithm

from auth_jwks_server import (
    NOW,
    FakeClock,
    JWKSServer,
    KeyPair,
    b64json,
    b64url,
    ec_pair,
    forge_hmac,
    rsa_pair,
    tamper_payload,
    unsigned,
)
from tta_dev_integrations.auth import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    Auth0Primitive,
    AuthError,
    ClerkPrimitive,
    ForbiddenHeaderError,
    IssuerMismatchError,
    JWKSKeySet,
    JWTPrimitive,
    KeySetUnavailableError,
    MissingClaimError,
    SignatureInvalidError,
    TokenExpiredError,
    TokenMalformedError,
    TokenNotYetValidError,
    TokenTooLargeError,
    UnauthorizedPartyError,
    UnknownKeyError,
)
from tta_dev_primitives import WorkflowPrimitive

ISSUER = "https://tenant.example.com/"
AUDIENCE = "https://api.example.com"
CLERK_PARTY = "https://app.example.com"
CLIENT = "spa-client-id"
RIVAL = "rival-client-id"  # another application of the same tenant
GOOD = {"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": NOW + 300, "iat": NOW}

LEGIT = rsa_pair("legit-1")
ATTACKER = rsa_pair("legit-1")  # same kid as the real key, different key
ATTACKER_EC = ec_pair("ec-1")
LEGIT_DER = LEGIT.public.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
README = Path(__file__).resolve().parents[1] / "README.md"


@dataclass
class Kit:
    """The verifiers under attack and what the forgers may know (public material only)."""

    server: JWKSServer
    decoy: JWKSServer  # where a jku/x5u points: must never be fetched
    jwks: JWTPrimitive  # RS256 only, keys from the JWKS server
    mixed_pem: JWTPrimitive  # HS256 and RS256 allowed, the RSA public key as PEM
    mixed_jwks: JWTPrimitive  # HS256 and RS256 allowed, keys from the JWKS server
    clerk: ClerkPrimitive
    parties: JWTPrimitive  # RS256 from the JWKS server, only tokens for CLIENT
    auth0: Auth0Primitive  # the tenant's verifier, only tokens for CLIENT
    trickling: JWTPrimitive  # keys from a server that sends one byte at a time


@pytest.fixture
def kit() -> Iterator[Kit]:
    server, decoy, slow = JWKSServer(), JWKSServer(), JWKSServer()
    server.keys = [LEGIT.jwk()]
    decoy.keys = [ATTACKER.jwk()]
    slow.keys, slow.trickle = [LEGIT.jwk()], 0.05
    clock = FakeClock()
    common: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, "clock": clock}
    try:
        yield Kit(
            server=server,
            decoy=decoy,
            jwks=JWTPrimitive(algorithms=["RS256"], jwks_url=server.url, **common),
            mixed_pem=JWTPrimitive(
                algorithms=["HS256", "RS256"], public_key=LEGIT.public_pem, **common
            ),
            mixed_jwks=JWTPrimitive(algorithms=["HS256", "RS256"], jwks_url=server.url, **common),
            clerk=ClerkPrimitive(server.base_url, authorized_parties=[CLERK_PARTY], clock=clock),
            parties=JWTPrimitive(
                algorithms=["RS256"], jwks_url=server.url, authorized_parties=[CLIENT], **common
            ),
            auth0=Auth0Primitive(
                "tenant.example.com",
                AUDIENCE,
                jwks_url=server.url,
                authorized_parties=[CLIENT],
                clock=clock,
            ),
            trickling=JWTPrimitive(
                algorithms=["RS256"], key_set=JWKSKeySet(slow.url, timeout=0.3), **common
            ),
        )
    finally:
        server.stop()
        decoy.stop()
        slow.stop()


def signed(pair: KeyPair, **changes: Any) -> str:
    claims = {k: v for k, v in {**GOOD, **changes}.items() if v is not None}
    return pair.sign(claims)


def raw_rs256(header: dict[str, Any], payload_json: str) -> str:
    """Signed by the legitimate key over exactly ``payload_json`` (for odd JSON)."""
    signing_input = f"{b64json(header)}.{b64url(payload_json.encode())}"
    signature = RSAAlgorithm(RSAAlgorithm.SHA256).sign(signing_input.encode(), LEGIT.private)
    return f"{signing_input}.{b64url(signature)}"


def clerk_claims(**changes: Any) -> dict[str, Any]:
    # Clerk's iss is the Frontend API URL (the loopback server here), with no aud.
    return {"sub": "user_2abc", "exp": NOW + 60, "nbf": NOW - 5, "iat": NOW, **changes}


Forge = Callable[[Kit], tuple[WorkflowPrimitive[Any, Any], Any]]
HEADER_RS = {"alg": "RS256", "typ": "JWT", "kid": "legit-1"}

CASES: list[tuple[str, Forge, type[AuthError]]] = [
    *[
        (
            f"alg-{alg}",
            lambda k, alg=alg: (k.mixed_pem, unsigned({"alg": alg, "typ": "JWT"}, GOOD)),
            AlgorithmNotAllowedError,
        )
        for alg in ("none", "None", "NONE", "nOnE", " none")
    ],
    (
        "alg-none-with-a-real-signature-appended",
        lambda k: (k.jwks, unsigned({"alg": "none"}, GOOD) + signed(LEGIT).split(".")[2]),
        AlgorithmNotAllowedError,
    ),
    (
        "alg-missing",
        lambda k: (k.jwks, unsigned({"typ": "JWT"}, GOOD) + "c2ln"),
        AlgorithmNotAllowedError,
    ),
    (
        "hs256-with-rsa-public-pem-mixed-allow-list",
        lambda k: (k.mixed_pem, forge_hmac({"alg": "HS256"}, GOOD, LEGIT.public_pem)),
        AlgorithmNotAllowedError,
    ),
    (
        "hs256-with-rsa-public-pem-and-kid-against-jwks",
        lambda k: (
            k.mixed_jwks,
            forge_hmac({"alg": "HS256", "kid": "legit-1"}, GOOD, LEGIT.public_pem),
        ),
        AlgorithmNotAllowedError,
    ),
    (
        "hs256-with-rsa-public-jwk-json-against-jwks",
        lambda k: (
            k.mixed_jwks,
            forge_hmac({"alg": "HS256", "kid": "legit-1"}, GOOD, json.dumps(LEGIT.jwk()).encode()),
        ),
        AlgorithmNotAllowedError,
    ),
    (
        "hs256-with-rsa-public-jwk-json-against-pem",
        lambda k: (
            k.mixed_pem,
            forge_hmac({"alg": "HS256"}, GOOD, json.dumps(LEGIT.jwk(), sort_keys=True).encode()),
        ),
        AlgorithmNotAllowedError,
    ),
    (
        "hs256-with-rsa-public-pem-rs256-only",
        lambda k: (k.jwks, forge_hmac({"alg": "HS256", "kid": "legit-1"}, GOOD, LEGIT.public_pem)),
        AlgorithmNotAllowedError,
    ),
    (
        "es256-not-in-allow-list",
        lambda k: (k.jwks, ATTACKER_EC.sign(GOOD)),
        AlgorithmNotAllowedError,
    ),
    ("no-exp", lambda k: (k.jwks, signed(LEGIT, exp=None)), MissingClaimError),
    ("expired", lambda k: (k.jwks, signed(LEGIT, exp=NOW - 1)), TokenExpiredError),
    ("expired-exactly-now", lambda k: (k.jwks, signed(LEGIT, exp=NOW)), TokenExpiredError),
    (
        "exp-infinite",
        lambda k: (k.jwks, raw_rs256(HEADER_RS, _good_json(exp="1e999"))),
        TokenMalformedError,
    ),
    (
        "exp-nan",
        lambda k: (k.jwks, raw_rs256(HEADER_RS, _good_json(exp="NaN"))),
        TokenMalformedError,
    ),
    ("nbf-in-the-future", lambda k: (k.jwks, signed(LEGIT, nbf=NOW + 60)), TokenNotYetValidError),
    ("iat-in-the-future", lambda k: (k.jwks, signed(LEGIT, iat=NOW + 60)), TokenNotYetValidError),
    (
        "wrong-aud",
        lambda k: (k.jwks, signed(LEGIT, aud="https://other.example.com")),
        AudienceMismatchError,
    ),
    ("wrong-aud-list", lambda k: (k.jwks, signed(LEGIT, aud=["a", "b"])), AudienceMismatchError),
    (
        "aud-prefix",
        lambda k: (k.jwks, signed(LEGIT, aud=AUDIENCE + ".evil")),
        AudienceMismatchError,
    ),
    ("missing-aud", lambda k: (k.jwks, signed(LEGIT, aud=None)), AudienceMismatchError),
    (
        "wrong-iss",
        lambda k: (k.jwks, signed(LEGIT, iss="https://evil.example.com/")),
        IssuerMismatchError,
    ),
    (
        "iss-prefix-match",
        lambda k: (k.jwks, signed(LEGIT, iss="https://tenant.example.com.evil.io/")),
        IssuerMismatchError,
    ),
    (
        "iss-with-extra-path",
        lambda k: (k.jwks, signed(LEGIT, iss=ISSUER + "evil/")),
        IssuerMismatchError,
    ),
    (
        "iss-missing-trailing-slash",
        lambda k: (k.jwks, signed(LEGIT, iss=ISSUER.rstrip("/"))),
        IssuerMismatchError,
    ),
    ("iss-other-case", lambda k: (k.jwks, signed(LEGIT, iss=ISSUER.upper())), IssuerMismatchError),
    ("missing-iss", lambda k: (k.jwks, signed(LEGIT, iss=None)), IssuerMismatchError),
    (
        "unknown-crit",
        lambda k: (k.jwks, LEGIT.sign(GOOD, headers={"crit": ["exp"], "exp": NOW + 60})),
        ForbiddenHeaderError,
    ),
    (
        "crit-b64-unencoded-payload",
        lambda k: (k.jwks, raw_rs256({**HEADER_RS, "crit": ["b64"], "b64": False}, _good_json())),
        ForbiddenHeaderError,
    ),
    (
        "embedded-jwk",
        lambda k: (k.jwks, ATTACKER.sign(GOOD, headers={"jwk": ATTACKER.jwk()})),
        ForbiddenHeaderError,
    ),
    (
        "jku-to-attacker-jwks",
        lambda k: (k.jwks, ATTACKER.sign(GOOD, headers={"jku": k.decoy.url})),
        ForbiddenHeaderError,
    ),
    (
        "x5u-to-attacker",
        lambda k: (k.jwks, ATTACKER.sign(GOOD, headers={"x5u": k.decoy.url})),
        ForbiddenHeaderError,
    ),
    (
        "x5c-embedded-chain",
        lambda k: (k.jwks, ATTACKER.sign(GOOD, headers={"x5c": [b64url(ATTACKER.public_pem)]})),
        ForbiddenHeaderError,
    ),
    *[
        (
            f"kid-{label}",
            lambda k, kid=kid: (k.jwks, LEGIT.sign(GOOD, kid=kid)),
            TokenMalformedError,
        )
        for label, kid in [
            ("path-traversal", "../../../etc/passwd"),
            ("absolute-path", "/dev/null"),
            ("windows-path", "..\\..\\keys\\legit-1"),
            ("sql", "legit-1' OR '1'='1"),
            ("sql-comment", "x; DROP TABLE keys; --"),
            ("empty", ""),
            ("too-long", "k" * 129),
            ("nul-byte", "legit-1\x00"),
        ]
    ],
    (
        "kid-not-a-string",
        lambda k: (k.jwks, raw_rs256({"alg": "RS256", "kid": 1}, _good_json())),
        TokenMalformedError,
    ),
    (
        "duplicate-alg-member",
        lambda k: (k.jwks, _duplicate_alg(signed(LEGIT))),
        TokenMalformedError,
    ),
    (
        "tampered-payload",
        lambda k: (k.jwks, tamper_payload(signed(LEGIT), sub="admin")),
        SignatureInvalidError,
    ),
    (
        "tampered-payload-pem",
        lambda k: (k.mixed_pem, tamper_payload(signed(LEGIT), scope="admin")),
        SignatureInvalidError,
    ),
    (
        "attacker-key-with-the-legit-kid",
        lambda k: (k.jwks, signed(ATTACKER)),
        SignatureInvalidError,
    ),
    (
        "signature-stripped",
        lambda k: (k.jwks, signed(LEGIT).rpartition(".")[0] + "."),
        SignatureInvalidError,
    ),
    ("unknown-kid", lambda k: (k.jwks, LEGIT.sign(GOOD, kid="nobody-2")), UnknownKeyError),
    (
        "one-megabyte-token",
        lambda k: (k.jwks, signed(LEGIT, pad="A" * 1_048_576)),
        TokenTooLargeError,
    ),
    (
        "two-segments",
        lambda k: (k.jwks, ".".join(signed(LEGIT).split(".")[:2])),
        TokenMalformedError,
    ),
    (
        "clerk-azp-not-allowed",
        lambda k: (
            k.clerk,
            LEGIT.sign(clerk_claims(iss=k.server.base_url, azp="https://evil.example")),
        ),
        UnauthorizedPartyError,
    ),
    (
        "clerk-azp-missing",
        lambda k: (k.clerk, LEGIT.sign(clerk_claims(iss=k.server.base_url))),
        UnauthorizedPartyError,
    ),
    ("azp-another-client", lambda k: (k.parties, signed(LEGIT, azp=RIVAL)), UnauthorizedPartyError),
    ("azp-missing", lambda k: (k.parties, signed(LEGIT)), UnauthorizedPartyError),
    ("azp-a-list", lambda k: (k.parties, signed(LEGIT, azp=[CLIENT])), TokenMalformedError),
    (
        "auth0-azp-another-client",
        lambda k: (k.auth0, signed(LEGIT, azp=RIVAL)),
        UnauthorizedPartyError,
    ),
    (
        "auth0-client-id-another-client",
        lambda k: (k.auth0, signed(LEGIT, client_id=RIVAL)),
        UnauthorizedPartyError,
    ),
    ("auth0-azp-missing", lambda k: (k.auth0, signed(LEGIT)), UnauthorizedPartyError),
    (
        "auth0-azp-an-object",
        lambda k: (k.auth0, signed(LEGIT, azp={"id": CLIENT})),
        TokenMalformedError,
    ),
    *[
        (
            f"clerk-azp-{label}",
            lambda k, azp=azp: (k.clerk, LEGIT.sign(clerk_claims(iss=k.server.base_url, azp=azp))),
            TokenMalformedError,
        )
        for label, azp in [
            ("a-list", [CLERK_PARTY]),
            ("an-object", {"origin": CLERK_PARTY}),
            ("a-number", 1),
            ("true", True),
        ]
    ],
    (
        "iss-a-list",
        lambda k: (k.jwks, raw_rs256(HEADER_RS, _good_json(iss=json.dumps([ISSUER])))),
        TokenMalformedError,
    ),
    (
        "sub-an-object",
        lambda k: (k.jwks, signed(LEGIT, sub={"id": "user-1"})),
        TokenMalformedError,
    ),
    ("aud-an-object", lambda k: (k.jwks, signed(LEGIT, aud={"a": AUDIENCE})), TokenMalformedError),
    (
        "hs256-with-rsa-public-der-against-pem",
        lambda k: (k.mixed_pem, forge_hmac({"alg": "HS256"}, GOOD, LEGIT_DER)),
        AlgorithmNotAllowedError,
    ),
    (
        "hs256-with-rsa-public-der-and-kid-against-jwks",
        lambda k: (k.mixed_jwks, forge_hmac({"alg": "HS256", "kid": "legit-1"}, GOOD, LEGIT_DER)),
        AlgorithmNotAllowedError,
    ),
    ("trickling-jwks", lambda k: (k.trickling, signed(LEGIT)), KeySetUnavailableError),
    (
        "clerk-cookie-expired",
        lambda k: (
            k.clerk,
            {
                "Cookie": "__session="
                + LEGIT.sign(clerk_claims(iss=k.server.base_url, azp=CLERK_PARTY, exp=NOW - 5))
            },
        ),
        TokenExpiredError,
    ),
]


def _good_json(**raw_values: str) -> str:
    parts = {k: json.dumps(v) for k, v in GOOD.items()}
    parts.update(raw_values)
    return "{" + ",".join(f'"{k}":{v}' for k, v in parts.items()) + "}"


def _duplicate_alg(token: str) -> str:
    _header, payload, signature = token.split(".")
    doubled = '{"alg":"HS256","alg":"RS256","kid":"legit-1"}'
    return f"{b64url(doubled.encode())}.{payload}.{signature}"


BATTERY_SIZE = len(CASES)


@pytest.mark.parametrize(
    ("forge", "error"), [(f, e) for _, f, e in CASES], ids=[c[0] for c in CASES]
)
async def test_forged_token_is_rejected_with_the_right_error(
    kit: Kit, forge: Forge, error: type[AuthError]
) -> None:
    verifier, token = forge(kit)
    with pytest.raises(AuthError) as caught:
        await verifier.execute(token, _context())
    assert type(caught.value) is error, f"{type(caught.value).__name__}: {caught.value}"
    assert kit.decoy.requests == 0  # nothing is ever fetched from a token's header


async def test_the_whole_battery_accepts_nothing(kit: Kit) -> None:
    accepted = []
    for name, forge, _ in CASES:
        verifier, token = forge(kit)
        try:
            await verifier.execute(token, _context())
        except AuthError:
            continue
        accepted.append(name)
    assert accepted == []
    assert BATTERY_SIZE >= 50


async def test_the_control_tokens_are_accepted(kit: Kit) -> None:
    for verifier in (kit.jwks, kit.mixed_pem, kit.mixed_jwks):
        assert (await verifier.execute(signed(LEGIT), _context())).subject == "user-1"
    clerk_token = LEGIT.sign(clerk_claims(iss=kit.server.base_url, azp=CLERK_PARTY))
    principal = await kit.clerk.execute({"Cookie": f"__session={clerk_token}"}, _context())
    assert principal.subject == "user_2abc"


def test_the_readme_states_the_battery_result() -> None:
    # Fails until the auth section (with this line) is merged into the package README.
    line = f"{BATTERY_SIZE} forged tokens, 0 accepted"
    assert line in README.read_text(encoding="utf-8"), f"README must state: {line!r}"


def _context() -> Any:
    from tta_dev_primitives import WorkflowContext

    return WorkflowContext()


async def test_spans_of_rejections_hold_no_token_contents(kit: Kit) -> None:
    from tta_dev_primitives.testing import capture_spans

    with capture_spans() as captured:
        for name, forge, _ in CASES:
            verifier, token = forge(kit)
            raw = token if isinstance(token, str) else token["Cookie"]
            with pytest.raises(AuthError):
                await verifier.execute(token, _context())
            span = captured.spans[-1]
            recorded = json.dumps(
                [dict(span.attributes or {}), [dict(e.attributes or {}) for e in span.events]],
                default=str,
            )
            assert "exception.stacktrace" in recorded, name
            for part in raw.replace("=", ".").split("."):
                assert len(part) < 12 or part not in recorded, f"{name}: token text in the span"
            for canary in ("evil", "passwd", "DROP TABLE", "admin"):
                assert canary not in recorded, f"{name}: {canary!r} in the span"
    assert len(captured.spans) == BATTERY_SIZE
