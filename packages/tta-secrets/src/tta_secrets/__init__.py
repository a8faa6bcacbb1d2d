"""TTA.dev secrets: the environment, ``.env`` files and Vault KV v2 behind one loader.

>>> from tta_secrets import default_loader
>>> key = default_loader().get("OPENAI_API_KEY")  # doctest: +SKIP
>>> print(key)  # doctest: +SKIP
**********

Every value the loader returns is a :class:`Secret` (masked everywhere, read with
``get_secret_value()``) and is registered for scrubbing from logs and spans
(:mod:`tta_secrets.redaction`). See docs/SECRETS_MANAGEMENT.md.
"""

from typing import TYPE_CHECKING, Any

from tta_secrets.errors import (
    SecretNotFoundError,
    SecretsConfigError,
    SecretsError,
    VaultAuthError,
    VaultCheckAndSetError,
    VaultError,
    VaultPathNotFoundError,
    VaultRequestError,
    VaultSealedError,
    VaultUnavailableError,
)
from tta_secrets.redaction import RedactingLogFilter, register_secret, scrub
from tta_secrets.secret import Secret

if TYPE_CHECKING:
    from tta_secrets.loader import (
        Located,
        SecretLoader,
        default_loader,
        reset_default_loader,
        set_default_loader,
    )
    from tta_secrets.report import (
        SecretStatus,
        SourceProblem,
        provider_status,
        secret_status,
        source_problems,
    )
    from tta_secrets.sources import (
        DotenvSource,
        EnvSource,
        KVVersion,
        SecretSource,
        VaultClient,
        VaultSource,
    )

# The loader and its sources (python-dotenv, ssl for Vault) load on first use, so that
# importing the redaction helpers or the errors stays light.
_LAZY = {
    **dict.fromkeys(
        ("Located", "SecretLoader", "default_loader", "reset_default_loader",
         "set_default_loader"),
        "tta_secrets.loader",
    ),
    **dict.fromkeys(
        ("SecretStatus", "SourceProblem", "provider_status", "secret_status",
         "source_problems"),
        "tta_secrets.report",
    ),
    **dict.fromkeys(
        ("DotenvSource", "EnvSource", "KVVersion", "SecretSource", "VaultClient",
         "VaultSource"),
        "tta_secrets.sources",
    ),
}  # fmt: skip

__all__ = [
    "DotenvSource",
    "EnvSource",
    "KVVersion",
    "Located",
    "RedactingLogFilter",
    "Secret",
    "SecretLoader",
    "SecretNotFoundError",
    "SecretSource",
    "SecretStatus",
    "SecretsConfigError",
    "SecretsError",
    "SourceProblem",
    "VaultAuthError",
    "VaultCheckAndSetError",
    "VaultClient",
    "VaultError",
    "VaultPathNotFoundError",
    "VaultRequestError",
    "VaultSealedError",
    "VaultSource",
    "VaultUnavailableError",
    "default_loader",
    "provider_status",
    "register_secret",
    "reset_default_loader",
    "scrub",
    "secret_status",
    "set_default_loader",
    "source_problems",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value
