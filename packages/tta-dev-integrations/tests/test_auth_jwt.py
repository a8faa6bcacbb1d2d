"""JWTPrimitive: every algorithm, issue/verify, leeway boundaries, inputs, composition."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from auth_jwks_server import NOW, FakeClock, ec_pair, ed_pair, rsa_pair
from tta_dev_integrations.auth import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    AuthError,
    InsufficientScopeError,
    JWTPrimitive,
    MissingClaimError,
    Principal,
    SignatureInvalidError,
    TokenExpiredError,
    TokenMalformedError,
    TokenMissingError,
    TokenNotYetValidError,
    TokenTooLargeError,
    UnknownKeyError,
)
from tta_dev_primitives import WorkflowContext

SECRET = "s" * 64
CLAIMS = {"sub": "user-1", "exp": NOW + 60}

RSA = rsa_pair("rsa-1")
EC = ec_pair("ec-1")
ED = ed_pair("ed-1")


def hs(**kwargs: Any) -> JWTPrimitive:
    kwargs.setdefault("algorithms", ["HS256"])
    return JWTPrimitive(secret=SECRET, clock=FakeClock(), **kwargs)


@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_tokens_issue_and_verify(alg: str) -> None:
    auth = hs(algorithms=[alg])
    token = auth.issue({"sub": "user-1", "scope": "read write"})
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == alg
    principal = await auth.verify(token)
    assert principal.subject == "user-1"
    assert principal.scopes == {"read", "write"}
    assert principal.token.algorithm == alg
    assert principal.token.expires_at == NOW + 900
    assert principal.token.issued_at == NOW


@pytest.mark.parametrize("pair", [RSA, EC, ED], ids=lambda p: p.alg)
async def test_asymmetric_tokens_issue_with_private_and_verify_with_public(pair: Any) -> None:
    issuer = JWTPrimitive(algorithms=[pair.alg], private_key=pair.private_pem, key_id=pair.kid)
    token = issuer.issue({"sub": "svc", "permissions": ["read:docs"]}, expires_in=30)
    verifier = JWTPrimitive(algorithms=[pair.alg], public_key=pair.public_pem)
    principal = await verifier.verify(token)
    assert principal.subject == "svc"
    assert principal.scopes == {"read:docs"}
    assert principal.token.key_id == pair.kid
    # The issuer verifies its own tokens with the public half of its key.
    assert (await issuer.verify(token)).subject == "svc"


async def test_a_key_of_one_type_never_verifies_another_type() -> None:
    token = JWTPrimitive(algorithms=["ES256"], private_key=EC.private_pem).issue({"sub": "x"})
    verifier = JWTPrimitive(algorithms=["RS256", "ES256"], public_key=RSA.public_pem)
    with pytest.raises(AlgorithmNotAllowedError, match="does not fit the type of the key"):
        await verifier.verify(token)


async def test_a_token_signed_by_another_key_of_the_right_type_fails_the_signature() -> None:
    other = rsa_pair("rsa-1")
    token = other.sign(CLAIMS)
    verifier = JWTPrimitive(algorithms=["RS256"], public_key=RSA.public_pem, clock=FakeClock())
    with pytest.raises(SignatureInvalidError):
        await verifier.verify(token)


async def test_a_static_key_with_a_kid_refuses_tokens_with_another_kid() -> None:
    verifier = JWTPrimitive(
        algorithms=["RS256"], public_key=RSA.public_pem, key_id="rsa-1", clock=FakeClock()
    )
    assert (await verifier.verify(RSA.sign(CLAIMS))).subject == "user-1"
    with pytest.raises(UnknownKeyError):
        await verifier.verify(RSA.sign(CLAIMS, kid="rsa-2"))


# -- leeway boundaries (fixed clock) -------------------------------------------------


@pytest.mark.parametrize(
    ("exp", "accepted"),
    [
        (NOW - 30 + 1, True),  # now == exp + leeway - 1: still valid
        (NOW - 30, False),  # now == exp + leeway: expired (RFC 7519: must be before exp)
        (NOW - 31, False),
    ],
)
async def test_exp_boundary_is_exact(exp: int, accepted: bool) -> None:
    auth = hs(leeway=30)
    token = auth.issue({"sub": "u", "exp": exp})
    if accepted:
        assert (await auth.verify(token)).subject == "u"
    else:
        with pytest.raises(TokenExpiredError):
            await auth.verify(token)


@pytest.mark.parametrize(
    ("nbf", "accepted"),
    [
        (NOW + 30, True),  # now == nbf - leeway: valid (RFC 7519: after or equal to nbf)
        (NOW + 31, False),
    ],
)
async def test_nbf_boundary_is_exact(nbf: int, accepted: bool) -> None:
    auth = hs(leeway=30)
    token = auth.issue({"sub": "u", "nbf": nbf})
    if accepted:
        assert (await auth.verify(token)).token.not_before == nbf
    else:
        with pytest.raises(TokenNotYetValidError):
            await auth.verify(token)


async def test_without_leeway_exp_equal_to_now_is_expired() -> None:
    auth = hs()
    with pytest.raises(TokenExpiredError):
        await auth.verify(auth.issue({"sub": "u", "exp": NOW}))
    assert (await auth.verify(auth.issue({"sub": "u", "exp": NOW + 1}))).subject == "u"


async def test_iat_in_the_future_beyond_leeway_is_not_yet_valid() -> None:
    auth = hs(leeway=5)
    assert (await auth.verify(auth.issue({"sub": "u", "iat": NOW + 5}))).subject == "u"
    with pytest.raises(TokenNotYetValidError, match="issued in the future"):
        await auth.verify(auth.issue({"sub": "u", "iat": NOW + 6}))


@pytest.mark.parametrize("bad", ["1700000060", True, [NOW + 60]])
async def test_a_time_claim_that_is_not_a_number_is_malformed(bad: object) -> None:
    auth = hs()
    with pytest.raises(TokenMalformedError, match="exp claim is not a number"):
        await auth.verify(auth.issue({"sub": "u", "exp": bad}))


async def test_exp_can_be_made_optional() -> None:
    import jwt

    no_exp = jwt.encode({"sub": "u"}, SECRET, algorithm="HS256")
    assert (await hs(require_exp=False).verify(no_exp)).token.expires_at is None
    with pytest.raises(MissingClaimError) as caught:
        await hs().verify(no_exp)
    assert caught.value.claim == "exp"


async def test_required_claims_and_subject() -> None:
    import jwt

    auth = hs(required_claims=["jti"])
    with pytest.raises(MissingClaimError, match="'jti'"):
        await auth.verify(auth.issue({"sub": "u"}))
    assert (await auth.verify(auth.issue({"sub": "u", "jti": "j1"}))).token.token_id == "j1"
    no_sub = jwt.encode({"exp": NOW + 60}, SECRET, algorithm="HS256")
    with pytest.raises(MissingClaimError, match="'sub'"):
        await hs().verify(no_sub)


async def test_audience_may_be_a_list_on_both_sides() -> None:
    auth = hs(audience=["api-a", "api-b"])
    token = auth.issue({"sub": "u", "aud": ["other", "api-b"]})
    assert (await auth.verify(token)).token.audience == ("other", "api-b")
    with pytest.raises(AudienceMismatchError):
        await auth.verify(auth.issue({"sub": "u", "aud": ["other"]}))


async def test_required_scopes() -> None:
    auth = hs(required_scopes=["read", "write"])
    with pytest.raises(InsufficientScopeError) as caught:
        await auth.verify(auth.issue({"sub": "u", "scope": "read"}))
    assert caught.value.missing == {"write"}
    assert caught.value.status_code == 403
    ok = await auth.verify(auth.issue({"sub": "u", "scope": "read", "permissions": ["write"]}))
    assert ok.has_scopes("read", "write")


# -- inputs --------------------------------------------------------------------------


async def test_headers_are_read_case_insensitively_with_bearer() -> None:
    auth = hs()
    token = auth.issue({"sub": "u"})
    for headers in (
        {"Authorization": f"Bearer {token}"},
        {"authorization": f"bearer {token}"},
        {"AUTHORIZATION": f"  BEARER   {token} "},
    ):
        assert (await auth.verify(headers)).subject == "u"
    assert (await auth.verify(f"Bearer {token}")).subject == "u"


async def test_missing_or_non_bearer_credentials_are_token_missing() -> None:
    auth = hs()
    cases: list[Any] = [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Cookie": "__session=abc"},  # no cookie_name configured: cookies are not read
        "",
        42,
    ]
    for value in cases:
        with pytest.raises(TokenMissingError):
            await auth.verify(value)


async def test_the_cookie_is_read_when_configured_and_the_header_comes_first() -> None:
    auth = hs(cookie_name="__session")
    token = auth.issue({"sub": "from-cookie"})
    other = auth.issue({"sub": "from-header"})
    cookie = f'theme=dark; bad"cookie; __session={token}; __client_uat=1'
    assert (await auth.verify({"Cookie": cookie})).subject == "from-cookie"
    both = {"cookie": cookie, "Authorization": f"Bearer {other}"}
    assert (await auth.verify(both)).subject == "from-header"


async def test_the_size_limit_applies_before_decoding() -> None:
    auth = hs(max_token_bytes=100)
    token = auth.issue({"sub": "u"})
    assert len(token) > 100
    with pytest.raises(TokenTooLargeError, match="longer than 100 bytes"):
        await auth.verify(token)


# -- composition and messages ---------------------------------------------------------


async def test_auth_composes_with_a_handler() -> None:
    auth = hs()
    seen: list[Principal] = []

    async def handler(principal: Principal) -> str:
        seen.append(principal)
        return f"hello {principal.subject}"

    workflow = auth >> handler
    token = auth.issue({"sub": "ada"})
    result = await workflow.execute({"Authorization": f"Bearer {token}"}, WorkflowContext())
    assert result == "hello ada"
    assert [p.subject for p in seen] == ["ada"]
    with pytest.raises(SignatureInvalidError):
        await workflow.execute(token[:-4] + "AAAA", WorkflowContext())
    assert len(seen) == 1  # the handler never ran for the bad token


async def test_error_messages_and_reprs_hold_no_token_contents() -> None:
    auth = hs(audience="api", issuer="https://issuer.example/")
    marker = "canary-7f3a"
    tokens = [
        auth.issue({"sub": marker, "aud": f"{marker}-aud"}),
        auth.issue({"sub": marker, "iss": f"https://{marker}/"}),
        auth.issue({"sub": marker, "exp": NOW - 100}),
        auth.issue({"sub": marker, "scope": marker}, algorithm="HS256")[:-3] + "xyz",
    ]
    for token in tokens:
        with pytest.raises(AuthError) as caught:
            await auth.verify(token)
        text = f"{caught.value!s} {caught.value!r}"
        assert marker not in text
        assert token not in text
        assert caught.value.__cause__ is None or marker not in str(caught.value.__cause__)
    principal = await auth.verify(auth.issue({"sub": "u", "email": marker}))
    assert marker not in repr(principal)
    assert SECRET not in repr(auth.key_set) + repr(auth)


async def test_concurrent_verifications_share_one_primitive() -> None:
    auth = hs()
    tokens = [auth.issue({"sub": f"user-{i}"}) for i in range(50)]
    principals = await asyncio.gather(*(auth.verify(t) for t in tokens))
    assert [p.subject for p in principals] == [f"user-{i}" for i in range(50)]


# -- configuration errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithms": []}, "at least one"),
        ({"algorithms": "HS256"}, "takes a list"),
        ({"algorithms": ["none"]}, "never be allowed"),
        ({"algorithms": ["NoNe"]}, "never be allowed"),
        ({"algorithms": ["RS512"]}, "unsupported algorithm"),
        ({"algorithms": ["HS256"], "secret": "short"}, "needs at least 32"),
        ({"algorithms": ["HS512"], "secret": "x" * 40}, "needs at least 64"),
        ({"algorithms": ["HS256"], "secret": RSA.public_pem}, "is an asymmetric key"),
        ({"algorithms": ["HS256"], "secret": SECRET, "public_key": RSA.public_pem}, "only one"),
        ({"algorithms": ["RS256"]}, "no key to verify with"),
        (
            {"algorithms": ["HS256", "RS256"], "secret": SECRET, "private_key": RSA.private_pem},
            "not both",
        ),
        ({"algorithms": ["RS256"], "public_key": RSA.private_pem}, "not a PEM public key"),
        ({"algorithms": ["RS256"], "jwks_url": "http://idp.example/jwks"}, "https://"),
        ({"algorithms": ["HS256"], "secret": SECRET, "leeway": -1}, "leeway"),
        ({"algorithms": ["RS256"], "secret": SECRET}, "serves none of the allowed"),
        ({"algorithms": ["ES256"], "public_key": RSA.public_pem}, "serves none of the allowed"),
        ({"algorithms": ["HS256"], "private_key": ED.private_pem}, "serves none of the allowed"),
        ({"algorithms": ["HS256"], "secret": '{"kty": "RSA", "n": "x"}' + "x" * 32}, "JWK"),
    ],
)
def test_bad_configuration_is_refused_at_construction(kwargs: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        JWTPrimitive(**kwargs)


def test_weak_rsa_keys_are_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    from auth_jwks_server import KeyPair

    weak = KeyPair("weak", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with pytest.raises(ValueError, match="1024 bits"):
        JWTPrimitive(algorithms=["RS256"], public_key=weak.public_pem)


def test_issue_refuses_what_verify_would_refuse() -> None:
    verifier_only = JWTPrimitive(algorithms=["RS256"], public_key=RSA.public_pem)
    with pytest.raises(ValueError, match="needs a signing key"):
        verifier_only.issue({"sub": "u"})
    auth = hs()
    with pytest.raises(ValueError, match="'sub'"):
        auth.issue({"name": "no subject"})
    with pytest.raises(ValueError, match="not allowed here"):
        auth.issue({"sub": "u"}, algorithm="HS512")
    with pytest.raises(ValueError, match="expires_in"):
        auth.issue({"sub": "u"}, expires_in=0)
    mixed = JWTPrimitive(algorithms=["HS256", "EdDSA"], private_key=ED.private_pem)
    with pytest.raises(ValueError, match="does not fit"):
        mixed.issue({"sub": "u"}, algorithm="HS256")


async def test_random_binary_secrets_are_accepted() -> None:
    secret = b"{" + bytes(range(1, 64))  # starts like JSON, but it is just bytes
    auth = JWTPrimitive(algorithms=["HS256"], secret=secret, clock=FakeClock())
    assert (await auth.verify(auth.issue({"sub": "u"}))).subject == "u"


async def test_a_secret_wrapper_is_accepted() -> None:
    class Wrapped:
        def __init__(self, value: str) -> None:
            self._value = value

        def get_secret_value(self) -> str:
            return self._value

        def __repr__(self) -> str:
            return "Wrapped('**********')"

    auth = JWTPrimitive(algorithms=["HS256"], secret=Wrapped(SECRET), clock=FakeClock())
    plain = hs()
    assert (await auth.verify(plain.issue({"sub": "u"}))).subject == "u"


async def test_a_tta_secrets_secret_is_accepted_and_never_shown() -> None:
    from tta_secrets import Secret

    auth = JWTPrimitive(algorithms=["HS256"], secret=Secret(SECRET), clock=FakeClock())
    assert (await auth.verify(hs().issue({"sub": "u"}))).subject == "u"
    assert SECRET not in repr(auth.key_set)
    with pytest.raises(ValueError, match="needs at least 32") as caught:
        JWTPrimitive(algorithms=["HS256"], secret=Secret("short-secret"))
    assert "short-secret" not in str(caught.value)
