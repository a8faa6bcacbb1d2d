"""Auth primitives: verify (and issue) JWTs; Auth0 and Clerk tokens in one line.

Each primitive takes a token or request headers and returns a verified
:class:`Principal`, so ``auth >> handler`` composes like any other step::

    from tta_dev_integrations.auth import Auth0Primitive

    auth = Auth0Primitive("your-tenant.us.auth0.com", audience="https://api.example.com")
    workflow = auth >> handle                     # handle(principal)
    await workflow.execute(request.headers, WorkflowContext())

Every failure is one :class:`AuthError` subclass whose message says why, without
token contents. The error tree is drawn in :mod:`tta_dev_integrations.auth.errors`.
"""

from tta_dev_integrations.auth.auth0 import Auth0Primitive
from tta_dev_integrations.auth.clerk import ClerkPrimitive
from tta_dev_integrations.auth.errors import (
    AlgorithmNotAllowedError,
    AudienceMismatchError,
    AuthError,
    ForbiddenHeaderError,
    InsufficientScopeError,
    IssuerMismatchError,
    KeySetUnavailableError,
    MissingClaimError,
    SignatureInvalidError,
    TokenExpiredError,
    TokenMalformedError,
    TokenMissingError,
    TokenNotYetValidError,
    TokenTooLargeError,
    UnauthorizedPartyError,
    UnknownKeyError,
)
from tta_dev_integrations.auth.headers import TokenInput, token_from_input
from tta_dev_integrations.auth.jwks import JWKSKeySet
from tta_dev_integrations.auth.jwt import JWTPrimitive
from tta_dev_integrations.auth.keys import (
    SUPPORTED_ALGORITHMS,
    KeySet,
    StaticKeySet,
    VerificationKey,
    public_key_from_pem,
)
from tta_dev_integrations.auth.principal import Principal, TokenInfo

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "AlgorithmNotAllowedError",
    "AudienceMismatchError",
    "Auth0Primitive",
    "AuthError",
    "ClerkPrimitive",
    "ForbiddenHeaderError",
    "InsufficientScopeError",
    "IssuerMismatchError",
    "JWKSKeySet",
    "JWTPrimitive",
    "KeySet",
    "KeySetUnavailableError",
    "MissingClaimError",
    "Principal",
    "SignatureInvalidError",
    "StaticKeySet",
    "TokenExpiredError",
    "TokenInfo",
    "TokenInput",
    "TokenMalformedError",
    "TokenMissingError",
    "TokenNotYetValidError",
    "TokenTooLargeError",
    "UnauthorizedPartyError",
    "UnknownKeyError",
    "VerificationKey",
    "public_key_from_pem",
    "token_from_input",
]
