"""``JWTPrimitive``: verify a JWT (or issue one) as a step of a workflow.

Verification order, each step raising its own error (see :mod:`.errors`):
token found -> size -> shape and header (``alg`` allow-list, ``kid``, no key-bearing
or ``crit`` parameters) -> key by ``kid`` (JWKS refreshed on an unknown ``kid``,
at most once per cooldown) -> key type fits ``alg`` -> signature -> claims.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import jwt as pyjwt

from tta_dev_integrations.auth.claims import ClaimRules, check_claims, token_audiences
from tta_dev_integrations.auth.errors import (
    AlgorithmNotAllowedError,
    SignatureInvalidError,
    TokenMalformedError,
)
from tta_dev_integrations.auth.headers import TokenInput, token_from_input
from tta_dev_integrations.auth.jwks import JWKSKeySet
from tta_dev_integrations.auth.keys import (
    KeySet,
    SecretLike,
    SigningKey,
    StaticKeySet,
    VerificationKey,
    check_algorithms,
    hmac_key,
    hmac_signing_key,
    private_key_from_pem,
    public_key_from_pem,
)
from tta_dev_integrations.auth.principal import Principal, TokenInfo
from tta_dev_integrations.auth.token import (
    DEFAULT_MAX_TOKEN_BYTES,
    KID_PATTERN,
    check_header,
    load_json_object,
)
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive

__all__ = ["JWTPrimitive"]

if TYPE_CHECKING:
    import httpx

_JWS = pyjwt.PyJWS(options={"verify_signature": True, "enforce_minimum_key_length": True})


class JWTPrimitive(WorkflowPrimitive[TokenInput, Principal]):
    """Verify a JWT into a :class:`Principal`; input is the token or request headers.

    Keys come from exactly one of ``secret`` (HMAC), ``public_key`` (PEM),
    ``jwks_url`` or ``key_set``; with none of them, the public half of
    ``private_key`` verifies. ``private_key`` (PEM) or ``secret`` signs in
    :meth:`issue`. ``algorithms`` is required: there is no default that accepts
    everything, and ``none`` is refused in any spelling.

    ``authorized_parties`` lists the clients (``azp``) whose tokens are accepted: a
    token minted for another client of the same issuer is refused, and so is one
    without ``azp`` unless ``allow_missing_azp=True`` (see :mod:`.claims`).
    ``kid_pattern`` is what a header's ``kid`` may look like (default
    :data:`~tta_dev_integrations.auth.token.KID_PATTERN`, no ``/``); AWS Cognito
    kids hold ``/``, ``+`` and ``=``: pass ``re.compile(r"[A-Za-z0-9+/=._-]{1,128}")``.
    A ``kid`` is only ever compared with the configured keys' ids, never used as a
    path or a query, so the pattern guards logs and spans rather than lookups.

    Example::

        auth = JWTPrimitive(algorithms=["RS256"], jwks_url="https://idp/.well-known/jwks.json",
                            issuer="https://idp/", audience="my-api")
        workflow = auth >> handle_request          # handle_request(principal)
        await workflow.execute(request_headers, WorkflowContext())
    """

    def __init__(
        self,
        *,
        algorithms: Sequence[str],
        secret: str | bytes | SecretLike | None = None,
        public_key: str | bytes | None = None,
        jwks_url: str | None = None,
        key_set: KeySet | None = None,
        private_key: str | bytes | None = None,
        key_id: str | None = None,
        issuer: str | None = None,
        audience: str | Sequence[str] | None = None,
        leeway: float = 0.0,
        require_exp: bool = True,
        required_claims: Sequence[str] = (),
        required_scopes: Sequence[str] = (),
        authorized_parties: Sequence[str] | None = None,
        allow_missing_azp: bool = False,
        kid_pattern: str | re.Pattern[str] = KID_PATTERN,
        max_token_bytes: int = DEFAULT_MAX_TOKEN_BYTES,
        cookie_name: str | None = None,
        clock: Callable[[], float] = time.time,
        jwks_cooldown: float = 30.0,
        jwks_max_age: float = 600.0,
        http_client: httpx.AsyncClient | None = None,
        name: str | None = None,
    ) -> None:
        self.algorithms = check_algorithms(algorithms)
        if leeway < 0 or max_token_bytes <= 0:
            raise ValueError("leeway must be >= 0 and max_token_bytes > 0")
        self.rules = ClaimRules(
            issuer=issuer,
            audiences=_audiences(audience),
            leeway=float(leeway),
            require_exp=require_exp,
            required_claims=tuple(required_claims),
            required_scopes=frozenset(required_scopes),
            authorized_parties=_parties(authorized_parties),
            allow_missing_azp=allow_missing_azp,
        )
        self.kid_pattern = re.compile(kid_pattern) if isinstance(kid_pattern, str) else kid_pattern
        self.max_token_bytes = max_token_bytes
        self.cookie_name = cookie_name
        self._clock = clock
        sources = [s for s in (secret, public_key, jwks_url, key_set) if s is not None]
        if len(sources) > 1:
            raise ValueError("pass only one of secret=, public_key=, jwks_url=, key_set=")
        if secret is not None and private_key is not None:
            raise ValueError("pass secret= (HMAC) or private_key= (PEM) to sign, not both")
        self._signing_key: SigningKey | None = None
        if private_key is not None:
            self._signing_key = private_key_from_pem(private_key, key_id)
        self.key_set: KeySet
        if secret is not None:
            hmac = hmac_key(secret, self.algorithms, key_id)
            self.key_set = StaticKeySet([hmac])
            self._signing_key = self._signing_key or hmac_signing_key(hmac)
        elif public_key is not None:
            self.key_set = StaticKeySet([public_key_from_pem(public_key, key_id)])
        elif jwks_url is not None:
            self.key_set = JWKSKeySet(
                jwks_url, cooldown=jwks_cooldown, max_age=jwks_max_age, client=http_client
            )
        elif key_set is not None:
            self.key_set = key_set
        elif self._signing_key is not None:
            self.key_set = StaticKeySet([self._signing_key.public])
        else:
            raise ValueError(
                "no key to verify with: pass secret=, public_key= (PEM), jwks_url=, "
                "key_set= or private_key="
            )
        for static in _static_keys(self.key_set, self._signing_key):
            if not any(static.fits(a) for a in self.algorithms):
                raise ValueError(
                    f"the {static.key_type} key serves none of the allowed algorithms "
                    f"{list(self.algorithms)}; allow one of its type (HS* for a secret, "
                    "RS256 for RSA, ES256 for EC P-256, EdDSA for Ed25519)"
                )
        self._key_id = key_id
        self.name = name or ""

    async def _execute_impl(self, input_data: TokenInput, context: WorkflowContext) -> Principal:
        return await self.verify(input_data)

    async def verify(self, token_or_headers: TokenInput) -> Principal:
        """The principal of a valid token; one :class:`AuthError` subclass otherwise."""
        token = token_from_input(token_or_headers, cookie_name=self.cookie_name)
        header = check_header(token, self.algorithms, self.max_token_bytes, self.kid_pattern)
        algorithm: str = header["alg"]
        key_id: str | None = header.get("kid")
        keys = [key for key in await self.key_set.candidates(key_id) if key.fits(algorithm)]
        if not keys:
            raise AlgorithmNotAllowedError(
                "the token's algorithm does not fit the type of the key that would verify "
                "it (an HMAC secret never verifies RSA/EC/EdDSA tokens, nor the reverse)"
            )
        payload = _verified_payload(token, algorithm, keys)
        check_claims(payload, self.rules, self._clock())
        return Principal.from_claims(payload, _token_info(payload, algorithm, key_id))

    def issue(
        self,
        claims: Mapping[str, Any],
        *,
        algorithm: str | None = None,
        expires_in: float = 900.0,
    ) -> str:
        """A signed token for ``claims`` (which need a ``sub``).

        ``iat`` is now and ``exp`` is now + ``expires_in``; ``iss`` and ``aud`` come
        from this verifier's settings. Keys in ``claims`` win over those defaults.
        The algorithm is ``algorithm`` or the first allowed one the key can serve.
        """
        if self._signing_key is None:
            raise ValueError("issue() needs a signing key: pass private_key= (PEM) or secret=")
        signing_key = self._signing_key
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise ValueError("issue() needs a non-empty 'sub' claim: verify() requires one")
        if expires_in <= 0:
            raise ValueError("expires_in must be > 0 seconds")
        if algorithm is None:
            algorithm = next((a for a in self.algorithms if signing_key.fits(a)), None)
            if algorithm is None:
                raise ValueError(
                    f"no allowed algorithm {list(self.algorithms)} fits the "
                    f"{signing_key.key_type} signing key"
                )
        elif algorithm not in self.algorithms or not signing_key.fits(algorithm):
            raise ValueError(
                f"{algorithm!r} is not allowed here or does not fit the "
                f"{signing_key.key_type} signing key; allowed: {list(self.algorithms)}"
            )
        now = int(self._clock())
        payload: dict[str, Any] = {"iat": now, "exp": now + int(expires_in)}
        if self.rules.issuer is not None:
            payload["iss"] = self.rules.issuer
        if self.rules.audiences:
            audiences = sorted(self.rules.audiences)
            payload["aud"] = audiences[0] if len(audiences) == 1 else audiences
        payload.update(claims)
        headers = {"kid": self._key_id} if self._key_id is not None else None
        return pyjwt.encode(payload, signing_key.material, algorithm=algorithm, headers=headers)


def _static_keys(key_set: KeySet, signing_key: SigningKey | None) -> list[VerificationKey]:
    keys = list(key_set.keys) if isinstance(key_set, StaticKeySet) else []
    return [*keys, signing_key.public] if signing_key is not None else keys


def _audiences(audience: str | Sequence[str] | None) -> frozenset[str] | None:
    if audience is None:
        return None
    values = frozenset([audience] if isinstance(audience, str) else audience)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError("audience= takes a non-empty string or a list of them")
    return values


def _parties(parties: Sequence[str] | None) -> frozenset[str] | None:
    if parties is None:
        return None
    if isinstance(parties, str):
        raise TypeError("authorized_parties= takes a list of origins or client ids, not a str")
    values = frozenset(parties)
    if not values or not all(isinstance(v, str) and v for v in values):
        raise ValueError("authorized_parties= takes a non-empty list of non-empty strings")
    return values


def _verified_payload(token: str, algorithm: str, keys: Sequence[VerificationKey]) -> Any:
    for key in keys:
        try:
            _JWS.decode_complete(token, key.material, algorithms=[algorithm])
        except pyjwt.InvalidSignatureError:
            continue
        except pyjwt.InvalidKeyError:
            continue  # e.g. a key below the minimum length: it cannot vouch for anything
        except pyjwt.PyJWTError:
            # `from None`: PyJWT's messages may quote parts of the token.
            raise TokenMalformedError("the token could not be decoded as a JWS") from None
        return load_json_object(token.split(".")[1], "payload")
    raise SignatureInvalidError(
        "the token's signature does not verify with the configured key(s); "
        "it was altered or signed by someone else"
    )


def _token_info(payload: Mapping[str, Any], algorithm: str, key_id: str | None) -> TokenInfo:
    def seconds(name: str) -> float | None:
        value = payload.get(name)
        return float(value) if isinstance(value, int | float) else None

    jti = payload.get("jti")
    iss = payload.get("iss")
    return TokenInfo(
        algorithm=algorithm,
        key_id=key_id,
        issuer=iss if isinstance(iss, str) else None,
        audience=token_audiences(payload),
        issued_at=seconds("iat"),
        expires_at=seconds("exp"),
        not_before=seconds("nbf"),
        token_id=jti if isinstance(jti, str) else None,
    )
