"""Every error the auth primitives raise, in one tree.

::

    TTAError (tta_dev_primitives)
    └── AuthError                       base; ``status_code`` is the HTTP status to answer
        ├── TokenMissingError           401  no token in the input, header or cookie
        ├── TokenMalformedError         401  not a compact JWS, bad JSON, bad ``kid``,
        │                                    a time claim that is not a number
        ├── TokenTooLargeError          401  longer than ``max_token_bytes``; not decoded
        ├── AlgorithmNotAllowedError    401  ``alg`` outside the allow-list (``none`` always),
        │                                    or an algorithm the key's type cannot serve
        ├── ForbiddenHeaderError        401  ``jwk``/``jku``/``x5u``/``x5c`` or ``crit``
        ├── SignatureInvalidError       401  the signature does not verify (tampered token)
        ├── TokenExpiredError           401  ``now >= exp + leeway``
        ├── TokenNotYetValidError       401  ``now < nbf - leeway`` or ``iat`` in the future
        ├── MissingClaimError           401  a required claim (``exp``, ``sub``...) is absent
        ├── AudienceMismatchError       401  ``aud`` missing or without the expected value
        ├── IssuerMismatchError         401  ``iss`` missing or not exactly the issuer
        ├── UnknownKeyError             401  no key with the token's ``kid`` (after refresh)
        ├── KeySetUnavailableError      503  the JWKS could not be fetched and none is cached
        ├── InsufficientScopeError      403  a required scope or permission is missing
        └── UnauthorizedPartyError      403  ``azp`` is not one of the authorized parties

Messages say what failed and how to fix it, and never contain token contents: no
token text, no claim values, no header values. Only configuration (the expected
issuer, the allow-list...) and claim *names* appear, so an error can go to logs
and spans as it is.
"""

from __future__ import annotations

from tta_dev_primitives import TTAError

__all__ = [
    "AlgorithmNotAllowedError",
    "AudienceMismatchError",
    "AuthError",
    "ForbiddenHeaderError",
    "InsufficientScopeError",
    "IssuerMismatchError",
    "KeySetUnavailableError",
    "MissingClaimError",
    "SignatureInvalidError",
    "TokenExpiredError",
    "TokenMalformedError",
    "TokenMissingError",
    "TokenNotYetValidError",
    "TokenTooLargeError",
    "UnauthorizedPartyError",
    "UnknownKeyError",
]


class AuthError(TTAError):
    """Base of every auth error: a request could not be authenticated or authorized."""

    #: The HTTP status a server should answer with.
    status_code: int = 401


class TokenMissingError(AuthError):
    """The input carried no token (no Bearer ``Authorization`` header, no cookie)."""


class TokenMalformedError(AuthError):
    """The token is not a well-formed compact JWS with JSON header and payload."""


class TokenTooLargeError(AuthError):
    """The token is longer than the configured maximum; it was not decoded."""


class AlgorithmNotAllowedError(AuthError):
    """The token's ``alg`` is not allowed, or does not fit the key that would verify it."""


class ForbiddenHeaderError(AuthError):
    """The header carries a parameter we refuse: an embedded key or key URL, or ``crit``."""


class SignatureInvalidError(AuthError):
    """The signature does not verify: the token was altered or signed with another key."""


class TokenExpiredError(AuthError):
    """The token's ``exp`` (plus leeway) has passed."""


class TokenNotYetValidError(AuthError):
    """The token's ``nbf`` (minus leeway) or its ``iat`` is still in the future."""


class MissingClaimError(AuthError):
    """A claim the verifier requires is absent; ``claim`` names it."""

    def __init__(self, claim: str, hint: str = "") -> None:
        self.claim = claim
        message = f"the token has no {claim!r} claim, which this verifier requires"
        super().__init__(f"{message}; {hint}" if hint else message)


class AudienceMismatchError(AuthError):
    """The token's ``aud`` is missing or names none of the expected audiences."""


class IssuerMismatchError(AuthError):
    """The token's ``iss`` is missing or is not exactly the expected issuer."""


class UnknownKeyError(AuthError):
    """No configured or published key matches the token's ``kid``."""


class KeySetUnavailableError(AuthError):
    """The JWKS endpoint failed and no key set is cached to fall back on."""

    status_code = 503


class InsufficientScopeError(AuthError):
    """The token is valid but lacks a required scope or permission; ``missing`` names them."""

    status_code = 403

    def __init__(self, missing: frozenset[str], kind: str = "scope") -> None:
        self.missing = missing
        names = ", ".join(sorted(missing))
        super().__init__(
            f"the token lacks the required {kind}(s): {names}; "
            f"grant them to the caller in the identity provider"
        )


class UnauthorizedPartyError(AuthError):
    """The token's ``azp`` is absent or not one of the configured authorized parties."""

    status_code = 403
