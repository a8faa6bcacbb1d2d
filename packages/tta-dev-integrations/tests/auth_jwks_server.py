"""Test support for the auth tests: generated keys, a real JWKS server on loopback, forgery.

The server is a real ``http.server`` in a thread: it serves whatever key set the test
sets, answers with a chosen status, counts the requests that reach it, and can be
stopped mid-test to simulate an outage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

NOW = 1_700_000_000
"""The fixed clock of the tests (2023-11-14)."""


@dataclass
class KeyPair:
    """A generated key pair with its PEMs and public JWK."""

    kid: str
    alg: str
    private: Any
    public: Any = field(init=False)

    def __post_init__(self) -> None:
        self.public = self.private.public_key()

    @property
    def private_pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_pem(self) -> bytes:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        algorithm = {"RS256": RSAAlgorithm, "ES256": ECAlgorithm, "EdDSA": OKPAlgorithm}[self.alg]
        data = algorithm.to_jwk(self.public, as_dict=True)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(
        self,
        claims: dict[str, Any],
        *,
        kid: str | None = "same",
        headers: dict[str, Any] | None = None,
    ) -> str:
        extra: dict[str, Any] = dict(headers or {})
        if kid == "same":
            extra["kid"] = self.kid
        elif kid is not None:
            extra["kid"] = kid
        return jwt.encode(claims, self.private, algorithm=self.alg, headers=extra or None)


def rsa_pair(kid: str) -> KeyPair:
    return KeyPair(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_pair(kid: str) -> KeyPair:
    return KeyPair(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))


def ed_pair(kid: str) -> KeyPair:
    return KeyPair(kid, "EdDSA", ed25519.Ed25519PrivateKey.generate())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def forge_hmac(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """A token signed with HMAC-SHA256 over ``secret`` whatever ``header`` claims."""
    signing_input = f"{b64json(header)}.{b64json(claims)}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A token with an empty signature (what ``alg: none`` looks like)."""
    return f"{b64json(header)}.{b64json(claims)}."


def tamper_payload(token: str, **changes: Any) -> str:
    """The token with its payload rewritten and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    return f"{header}.{b64json(claims)}.{signature}"


class JWKSServer:
    """A JWKS endpoint on 127.0.0.1 serving ``self.keys``; counts requests.

    With ``trickle`` set (seconds), the body is sent one byte at a time with that
    pause between bytes: every read succeeds, and the whole answer takes minutes.
    """

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.requests = 0
        self.trickle: float | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    status, keys, trickle = server.status, server.keys, server.trickle
                body = json.dumps({"keys": keys}).encode() if status == 200 else b"oops"
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if trickle is None:
                    self.wfile.write(body)
                    return
                try:
                    for at in range(len(body)):
                        self.wfile.write(body[at : at + 1])
                        self.wfile.flush()
                        time.sleep(trickle)
                except OSError:
                    pass  # the client gave up, as it should

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base_url}/.well-known/jwks.json"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        self._running = True

    def stop(self) -> None:
        if self._running:
            self._running = False
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)


def serve_jwks() -> Iterator[JWKSServer]:
    """Body of a ``jwks_server`` fixture: a running server, stopped afterwards."""
    server = JWKSServer()
    try:
        yield server
    finally:
        server.stop()


class FakeClock:
    """A settable clock for both wall time (claims) and monotonic time (cooldowns)."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
