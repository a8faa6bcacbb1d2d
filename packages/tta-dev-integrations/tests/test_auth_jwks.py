"""JWKSKeySet against a real JWKS server: caching, rotation, cooldown, outages."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from auth_jwks_server import (
    NOW,
    FakeClock,
    JWKSServer,
    ec_pair,
    ed_pair,
    forge_hmac,
    rsa_pair,
    serve_jwks,
)
from tta_dev_integrations.auth import (
    AlgorithmNotAllowedError,
    AuthError,
    JWKSKeySet,
    JWTPrimitive,
    KeySetUnavailableError,
    UnknownKeyError,
)
from tta_dev_integrations.auth.jwks import check_key_url

CLAIMS = {"sub": "user-1", "exp": NOW + 3600}
KEY_A = rsa_pair("key-a")
KEY_B = rsa_pair("key-b")
KEY_C = rsa_pair("key-c")


@pytest.fixture
def jwks_server() -> Iterator[JWKSServer]:
    yield from serve_jwks()


async def until(condition: Callable[[], bool], within: float = 5.0) -> None:
    """Wait for a background refresh to have done what ``condition`` checks."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


def verifier(server: JWKSServer, **kwargs: Any) -> tuple[JWTPrimitive, FakeClock]:
    """A verifier whose JWKS cooldown/max-age run on a fake monotonic clock."""
    mono = FakeClock(1000.0)
    algorithms = kwargs.pop("algorithms", ["RS256"])
    key_set = JWKSKeySet(server.url, clock=mono, **kwargs)
    return JWTPrimitive(algorithms=algorithms, key_set=key_set, clock=FakeClock()), mono


async def test_keys_are_fetched_once_and_cached(jwks_server: JWKSServer) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    auth, _ = verifier(jwks_server)
    for _ in range(20):
        assert (await auth.verify(KEY_A.sign(CLAIMS))).subject == "user-1"
    assert jwks_server.requests == 1


async def test_rotation_new_kid_is_picked_up_and_removed_kid_stops_verifying(
    jwks_server: JWKSServer,
) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    auth, mono = verifier(jwks_server, cooldown=30)
    token_a, token_b = KEY_A.sign(CLAIMS), KEY_B.sign(CLAIMS)
    assert (await auth.verify(token_a)).token.key_id == "key-a"

    jwks_server.keys = [KEY_A.jwk(), KEY_B.jwk()]  # the provider publishes a new key
    mono.now += 10  # within the cooldown: the unknown kid may not trigger a fetch yet
    with pytest.raises(UnknownKeyError, match="retry after the cooldown"):
        await auth.verify(token_b)
    assert jwks_server.requests == 1
    mono.now += 21  # past the cooldown: the unknown kid triggers one refresh
    assert (await auth.verify(token_b)).token.key_id == "key-b"
    assert jwks_server.requests == 2

    jwks_server.keys = [KEY_B.jwk()]  # the old key is retired
    assert (await auth.verify(token_a)).subject == "user-1"  # cached until a refresh
    mono.now += 31
    with pytest.raises(UnknownKeyError):
        await auth.verify(KEY_C.sign(CLAIMS))  # an unknown kid refreshes the set
    assert jwks_server.requests == 3
    with pytest.raises(UnknownKeyError):
        await auth.verify(token_a)
    assert (await auth.verify(token_b)).subject == "user-1"
    assert jwks_server.requests == 3


async def test_a_thousand_unknown_kids_cause_at_most_one_fetch_per_cooldown(
    jwks_server: JWKSServer,
) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    auth, mono = verifier(jwks_server, cooldown=30)
    assert (await auth.verify(KEY_A.sign(CLAIMS))).subject == "user-1"
    assert jwks_server.requests == 1
    signer = ec_pair("x")
    forged = [signer.sign(CLAIMS, kid=f"unknown-{i}") for i in range(1000)]
    auth_es, mono_es = verifier(jwks_server, cooldown=30, algorithms=["RS256", "ES256"])

    # Concurrently, on a cold cache: one fetch between them all.
    results = await asyncio.gather(*(auth_es.verify(t) for t in forged), return_exceptions=True)
    assert all(isinstance(r, UnknownKeyError) for r in results)
    assert jwks_server.requests == 2

    # One after another, after the cooldown: one refresh, then none.
    mono_es.now += 31
    for token in forged:
        with pytest.raises(UnknownKeyError):
            await auth_es.verify(token)
    assert jwks_server.requests == 3
    # The valid key still verifies throughout, with no extra fetch.
    assert (await auth_es.verify(KEY_A.sign(CLAIMS))).subject == "user-1"
    assert jwks_server.requests == 3
    assert mono.now == 1000.0


async def test_an_outage_keeps_verifying_with_cached_keys(jwks_server: JWKSServer) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    auth, mono = verifier(jwks_server, cooldown=30, max_age=600)
    token = KEY_A.sign(CLAIMS)
    assert (await auth.verify(token)).subject == "user-1"

    jwks_server.status = 500
    mono.now += 601  # the cache is stale: a refresh is tried in the background and fails
    assert (await auth.verify(token)).subject == "user-1"
    await until(lambda: jwks_server.requests == 2)
    mono.now += 31
    with pytest.raises(UnknownKeyError):  # an unknown kid during the outage
        await auth.verify(KEY_B.sign(CLAIMS))
    assert jwks_server.requests == 3

    jwks_server.stop()  # the endpoint is gone altogether
    mono.now += 601
    assert (await auth.verify(token)).subject == "user-1"


async def test_no_cached_keys_and_an_outage_is_unavailable_and_fails_fast(
    jwks_server: JWKSServer,
) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    jwks_server.status = 503
    auth, mono = verifier(jwks_server, cooldown=30)
    token = KEY_A.sign(CLAIMS)
    with pytest.raises(KeySetUnavailableError, match="HTTP 503") as caught:
        await auth.verify(token)
    assert caught.value.status_code == 503
    with pytest.raises(KeySetUnavailableError):
        await auth.verify(token)
    assert jwks_server.requests == 1  # the second call did not hammer the endpoint
    jwks_server.status = 200
    mono.now += 30
    assert (await auth.verify(token)).subject == "user-1"
    assert jwks_server.requests == 2


async def test_a_server_that_is_not_listening_is_unavailable(jwks_server: JWKSServer) -> None:
    jwks_server.stop()
    auth, _ = verifier(jwks_server)
    with pytest.raises(KeySetUnavailableError, match="ConnectError"):
        await auth.verify(KEY_A.sign(CLAIMS))


@pytest.mark.parametrize(
    ("keys", "why"),
    [
        (
            [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "kid": "h"}],
            "usable",
        ),
        ([{**KEY_A.jwk(), "use": "enc"}], "usable"),
        ([{**KEY_A.jwk(), "alg": "RS512"}], "usable"),
        ([{"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "AQAB"}], "usable"),
        ("not-a-list", 'no "keys" list'),
    ],
    ids=["symmetric", "encryption", "unsupported-alg", "weak-rsa", "not-a-set"],
)
async def test_unusable_key_sets_are_refused(jwks_server: JWKSServer, keys: Any, why: str) -> None:
    jwks_server.keys = keys
    auth, _ = verifier(jwks_server, algorithms=["HS256", "RS256"])
    with pytest.raises(KeySetUnavailableError, match=why):
        await auth.verify(KEY_A.sign(CLAIMS))


async def test_a_published_hmac_key_never_verifies(jwks_server: JWKSServer) -> None:
    secret = b"published-secret-published-secret-0123"
    oct_key = {"kty": "oct", "k": base64.urlsafe_b64encode(secret).rstrip(b"=").decode()}
    jwks_server.keys = [KEY_A.jwk(), {**oct_key, "kid": "key-a"}, {**oct_key, "kid": "h"}]
    auth, _ = verifier(jwks_server, algorithms=["HS256", "RS256"])
    for kid in ("key-a", "h"):
        token = forge_hmac({"alg": "HS256", "kid": kid}, CLAIMS, secret)
        with pytest.raises((AlgorithmNotAllowedError, UnknownKeyError)):
            await auth.verify(token)


async def test_ec_and_ed25519_keys_from_a_jwks(jwks_server: JWKSServer) -> None:
    ec, ed = ec_pair("ec-1"), ed_pair("ed-1")
    jwks_server.keys = [ec.jwk(), ed.jwk(), KEY_A.jwk()]
    auth, _ = verifier(jwks_server, algorithms=["ES256", "EdDSA", "RS256"])
    for pair in (ec, ed, KEY_A):
        principal = await auth.verify(pair.sign(CLAIMS))
        assert principal.token.algorithm == pair.alg
    # A token without kid is tried against every published key of its type.
    assert (await auth.verify(ed.sign(CLAIMS, kid=None))).token.key_id is None


async def test_an_oversized_or_non_json_answer_is_refused(jwks_server: JWKSServer) -> None:
    jwks_server.keys = [{**KEY_A.jwk(), "padding": "x" * 300_000}]
    auth, _ = verifier(jwks_server)
    with pytest.raises(KeySetUnavailableError, match="larger than"):
        await auth.verify(KEY_A.sign(CLAIMS))


def test_the_lock_follows_the_event_loop(jwks_server: JWKSServer) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    auth, _ = verifier(jwks_server)
    tokens = [KEY_A.sign(CLAIMS, kid=f"k{i}") for i in range(5)] + [KEY_A.sign(CLAIMS)]

    async def burst() -> list[object]:
        return await asyncio.gather(*(auth.verify(t) for t in tokens), return_exceptions=True)

    for _ in range(2):  # two loops in turn: the set's lock must not stay bound to the first
        results = asyncio.run(burst())
        assert [type(r).__name__ for r in results][-1] == "Principal"
        assert all(isinstance(r, AuthError) for r in results[:-1])


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://tenant.auth0.com/.well-known/jwks.json", True),
        ("http://127.0.0.1:8080/jwks", True),
        ("http://127.9.9.9/jwks", True),
        ("http://localhost/jwks", True),
        ("http://[::1]:9/jwks", True),
        ("http://tenant.auth0.com/.well-known/jwks.json", False),
        ("http://127.0.0.1.evil.io/jwks", False),
        ("ftp://127.0.0.1/jwks", False),
        ("file:///etc/jwks.json", False),
        ("https:///no-host", False),
    ],
)
def test_key_urls_must_be_https_except_on_loopback(url: str, ok: bool) -> None:
    if ok:
        assert check_key_url(url) == url
    else:
        with pytest.raises(ValueError, match="https://"):
            check_key_url(url)


def test_repr_names_the_url_only() -> None:
    key_set = JWKSKeySet("https://tenant.example.com/.well-known/jwks.json")
    assert repr(key_set).startswith("JWKSKeySet(url='https://tenant.example.com/")
    assert json.dumps(repr(key_set))


async def test_a_trickling_server_is_cut_off_at_the_deadline(jwks_server: JWKSServer) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    jwks_server.trickle = 0.05  # every read succeeds; the whole answer takes over a minute
    auth, _ = verifier(jwks_server, timeout=0.5)
    started = asyncio.get_running_loop().time()
    with pytest.raises(KeySetUnavailableError, match=r"did not finish within 0\.5 s"):
        await auth.verify(KEY_A.sign(CLAIMS))
    assert asyncio.get_running_loop().time() - started < 2.0


async def test_a_stale_set_serves_while_the_refresh_runs_in_the_background(
    jwks_server: JWKSServer,
) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    auth, mono = verifier(jwks_server, timeout=1.0, max_age=600)
    token = KEY_A.sign(CLAIMS)
    assert (await auth.verify(token)).subject == "user-1"
    jwks_server.trickle = 0.05  # the endpoint is now too slow to answer
    mono.now += 601
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(20):
        assert (await auth.verify(token)).subject == "user-1"
    assert loop.time() - started < 0.5  # nobody waited on the fetch
    await until(lambda: jwks_server.requests == 2)  # one refresh, in the background
    await asyncio.sleep(1.2)  # past its deadline: it failed, and the keys stay
    assert (await auth.verify(token)).subject == "user-1"
    assert jwks_server.requests == 2


async def test_a_background_refresh_picks_up_the_new_set(jwks_server: JWKSServer) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    auth, mono = verifier(jwks_server, max_age=600)
    assert (await auth.verify(KEY_A.sign(CLAIMS))).subject == "user-1"
    jwks_server.keys = [KEY_B.jwk()]  # key-a was withdrawn
    mono.now += 601
    assert (await auth.verify(KEY_A.sign(CLAIMS))).subject == "user-1"  # stale, still served
    await until(lambda: jwks_server.requests == 2)
    await asyncio.sleep(0.05)
    with pytest.raises(UnknownKeyError):
        await auth.verify(KEY_A.sign(CLAIMS))
    assert (await auth.verify(KEY_B.sign(CLAIMS))).subject == "user-1"


def test_the_repr_shows_no_credentials_of_the_url() -> None:
    key_set = JWKSKeySet("https://user:hunter2-password@idp.example.com/.well-known/jwks.json")
    shown = repr(key_set)
    assert "hunter2" not in shown
    assert "user" not in shown
    assert "https://idp.example.com/.well-known/jwks.json" in shown


def test_a_background_refresh_left_on_another_loop_does_not_block_the_next(
    jwks_server: JWKSServer,
) -> None:
    jwks_server.keys = [KEY_A.jwk()]
    auth, mono = verifier(jwks_server, cooldown=30, max_age=600)
    token = KEY_A.sign(CLAIMS)
    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(auth.verify(token)).subject == "user-1"
        mono.now += 601
        # Serves the stale set and leaves its refresh pending on a loop that stops here.
        assert first.run_until_complete(auth.verify(token)).subject == "user-1"
        assert jwks_server.requests == 1
        mono.now += 31  # past the cooldown of that attempt

        async def on_a_new_loop() -> None:
            assert (await auth.verify(token)).subject == "user-1"
            await until(lambda: jwks_server.requests == 2)

        asyncio.run(on_a_new_loop())
    finally:
        for task in asyncio.all_tasks(first):
            task.cancel()
        first.run_until_complete(asyncio.sleep(0))
        first.close()
