"""Keys: which algorithm each key may serve, and loading them from secrets, PEMs and JWKs.

A key is bound to one key *type* (``oct`` for HMAC, ``RSA``, ``EC`` P-256, ``OKP``
Ed25519) and serves only the algorithms of that type. That binding is what stops the
algorithm-confusion attack: a token saying ``HS256`` is never checked against an RSA
public key used as an HMAC secret, whatever the allow-list says.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    load_der_private_key,
    load_der_public_key,
    load_pem_private_key,
    load_pem_public_key,
)
from cryptography.x509 import load_der_x509_certificate

from tta_dev_integrations.auth.errors import UnknownKeyError

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "KeySet",
    "SecretLike",
    "SigningKey",
    "StaticKeySet",
    "VerificationKey",
    "check_algorithms",
    "hmac_key",
    "hmac_signing_key",
    "key_from_jwk",
    "private_key_from_pem",
    "public_key_from_pem",
]

#: Algorithm -> the key type that serves it.
_KEY_TYPE = {
    "HS256": "oct",
    "HS384": "oct",
    "HS512": "oct",
    "RS256": "RSA",
    "ES256": "EC",
    "EdDSA": "OKP",
}
SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(_KEY_TYPE)
"""The algorithms an allow-list may name."""

#: RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}
_RSA_MIN_BITS = 2048
_BASE64 = re.compile(rb"[A-Za-z0-9+/_-]+={0,2}")
_PRIVATE_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)


class SecretLike(Protocol):
    """A secret wrapper (``tta_secrets`` or pydantic ``SecretStr``): read on demand."""

    def get_secret_value(self) -> str | bytes:
        """The secret itself."""
        ...


def check_algorithms(algorithms: Sequence[str]) -> tuple[str, ...]:
    """Validate an allow-list: non-empty, supported names, never ``none``."""
    if isinstance(algorithms, str):
        raise TypeError(f"algorithms= takes a list, e.g. [{algorithms!r}], not a str")
    allowed = tuple(dict.fromkeys(algorithms))
    if not allowed:
        raise ValueError("algorithms= must name at least one algorithm, e.g. ['RS256']")
    for name in allowed:
        if name.lower() == "none":
            raise ValueError("'none' (unsigned tokens) can never be allowed")
        if name not in SUPPORTED_ALGORITHMS:
            raise ValueError(
                f"unsupported algorithm {name!r}; choose from {sorted(SUPPORTED_ALGORITHMS)}"
            )
    return allowed


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A key that verifies signatures of one key type (and, if pinned, one algorithm)."""

    key_type: str
    material: Any = field(repr=False)
    key_id: str | None = None
    algorithm: str | None = None

    def fits(self, algorithm: str) -> bool:
        """Whether this key may verify a token signed with ``algorithm``."""
        if self.algorithm is not None and algorithm != self.algorithm:
            return False
        return _KEY_TYPE.get(algorithm) == self.key_type


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key (or HMAC secret) for :meth:`JWTPrimitive.issue`."""

    key_type: str
    material: Any = field(repr=False)
    public: VerificationKey

    def fits(self, algorithm: str) -> bool:
        """Whether this key may sign with ``algorithm``."""
        return _KEY_TYPE.get(algorithm) == self.key_type


class KeySet(Protocol):
    """Where verification keys come from: fixed keys, or a JWKS endpoint."""

    async def candidates(self, key_id: str | None) -> Sequence[VerificationKey]:
        """The keys that may have signed a token with this ``kid``.

        Raises :class:`UnknownKeyError` when there is none, or
        :class:`KeySetUnavailableError` when the keys cannot be had.
        """
        ...


class StaticKeySet:
    """Keys given up front. A key without a ``kid`` serves tokens with any ``kid``."""

    def __init__(self, keys: Sequence[VerificationKey]) -> None:
        if not keys:
            raise ValueError("a StaticKeySet needs at least one key")
        self.keys = tuple(keys)

    async def candidates(self, key_id: str | None) -> Sequence[VerificationKey]:
        """The configured keys whose ``kid`` is ``key_id`` or unset."""
        if key_id is None:
            return self.keys
        found = [k for k in self.keys if k.key_id is None or k.key_id == key_id]
        if not found:
            raise UnknownKeyError(
                "no configured key has the token's kid; "
                f"the configured kids are {sorted(str(k.key_id) for k in self.keys)}"
            )
        return found


def _secret_bytes(secret: str | bytes | SecretLike) -> bytes:
    if isinstance(secret, str | bytes):
        value: str | bytes = secret
    elif callable(getattr(secret, "get_secret_value", None)):
        value = secret.get_secret_value()
    else:
        raise TypeError(
            f"secret= takes a str, bytes or a secret wrapper, not a {type(secret).__name__}"
        )
    return value.encode() if isinstance(value, str) else bytes(value)


def hmac_key(
    secret: str | bytes | SecretLike, algorithms: Sequence[str], key_id: str | None = None
) -> VerificationKey:
    """An HMAC key from a shared secret, checked long enough for every HS* allowed."""
    raw = _secret_bytes(secret)
    if _is_asymmetric_key(raw):
        raise ValueError(
            "secret= is an asymmetric key (PEM, DER, base64 DER, SSH, JWK or a certificate); "
            "pass a public key as public_key= (an asymmetric key must never serve as an "
            "HMAC secret: anyone holding the public key could sign)"
        )
    for name in algorithms:
        needed = _HMAC_MIN_BYTES.get(name)
        if needed is not None and len(raw) < needed:
            raise ValueError(
                f"the HMAC secret is {len(raw)} bytes; {name} needs at least {needed} "
                "(RFC 7518 section 3.2); generate one with `python -c "
                '"import secrets; print(secrets.token_urlsafe(64))"`'
            )
    return VerificationKey("oct", raw, key_id)


def _parses_as_der(data: bytes) -> bool:
    loaders: tuple[Callable[[bytes], object], ...] = (
        load_der_public_key,
        lambda der: load_der_private_key(der, password=None),
        load_der_x509_certificate,
    )
    for load in loaders:
        try:
            load(data)
        except TypeError:
            return True  # an encrypted private key: a key all the same
        except (ValueError, UnsupportedAlgorithm):
            continue
        return True
    return False


def _is_asymmetric_key(raw: bytes) -> bool:
    """Whether ``raw`` is a public or private key, or a certificate, in any usual encoding."""
    stripped = raw.strip()
    if stripped.startswith((b"-----BEGIN", b"ssh-", b"ecdsa-sha2-", b"PuTTY-User-Key")):
        return True
    if stripped.startswith(b"{") and b'"kty"' in stripped:
        return True
    # DER starts with a SEQUENCE (0x30); asking the parsers settles it.
    if stripped[:1] == b"\x30" and _parses_as_der(stripped):
        return True
    if raw[:1] == b"\x30" and _parses_as_der(raw):
        return True
    # The base64 body of a PEM without its armour (MII... for RSA, MFkw... for P-256).
    compact = b"".join(stripped.split())
    if len(compact) >= 32 and _BASE64.fullmatch(compact):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                der = decode(compact + b"=" * (-len(compact) % 4))
            except (binascii.Error, ValueError):
                continue
            if der[:1] == b"\x30" and _parses_as_der(der):
                return True
    return False


def _describe_public(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < _RSA_MIN_BITS:
            raise ValueError(
                f"the RSA key has {key.key_size} bits; at least {_RSA_MIN_BITS} are required"
            )
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"the EC key is on {key.curve.name}; only P-256 (ES256) is supported")
        return "EC"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "OKP"
    raise ValueError(
        f"unsupported key type {type(key).__name__}; use RSA (>= 2048 bits), EC P-256 or Ed25519"
    )


def _as_bytes(pem: str | bytes) -> bytes:
    return pem.encode() if isinstance(pem, str) else pem


def public_key_from_pem(pem: str | bytes, key_id: str | None = None) -> VerificationKey:
    """A verification key from a PEM public key (RSA, EC P-256 or Ed25519)."""
    try:
        key = load_pem_public_key(_as_bytes(pem))
    except ValueError as exc:
        raise ValueError(
            "public_key= is not a PEM public key (expected '-----BEGIN PUBLIC KEY-----'); "
            "for a private key pass private_key="
        ) from exc
    return VerificationKey(_describe_public(key), key, key_id)


def private_key_from_pem(
    pem: str | bytes, key_id: str | None = None, password: bytes | None = None
) -> SigningKey:
    """A signing key from a PEM private key; its public half verifies."""
    try:
        key = load_pem_private_key(_as_bytes(pem), password=password)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            "private_key= is not a readable PEM private key (encrypted ones need password=)"
        ) from exc
    public = key.public_key()
    key_type = _describe_public(public)
    return SigningKey(key_type, key, VerificationKey(key_type, public, key_id))


def hmac_signing_key(public: VerificationKey) -> SigningKey:
    """The signing side of an HMAC key: the same secret."""
    return SigningKey("oct", public.material, public)


def key_from_jwk(jwk_data: Mapping[str, Any]) -> VerificationKey | None:
    """A verification key from one JWK of a published set; None when it must be skipped.

    Skipped: symmetric keys (a published HMAC key lets anyone sign), encryption keys
    (``use`` other than ``sig``), keys pinned to an algorithm we do not support,
    weak or unsupported keys.
    """
    kty = jwk_data.get("kty")
    if kty not in ("RSA", "EC", "OKP") or jwk_data.get("use", "sig") != "sig":
        return None
    alg = jwk_data.get("alg")
    if alg is not None and alg not in SUPPORTED_ALGORITHMS:
        return None
    kid = jwk_data.get("kid")
    if kid is not None and not isinstance(kid, str):
        return None
    try:
        parsed = jwt.PyJWK(dict(jwk_data))
        key: Any = parsed.key
        if isinstance(key, _PRIVATE_TYPES):
            key = key.public_key()  # a set that leaks a private key still verifies
        key_type = _describe_public(key)
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None
    if key_type != kty:
        return None
    return VerificationKey(key_type, key, kid, alg)
