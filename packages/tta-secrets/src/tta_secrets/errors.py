"""Every error tta_secrets raises, in one tree.

::

    Exception
    └── SecretsError                       base of every tta_secrets error
        ├── SecretsConfigError (ValueError)
        │                                  the settings (VAULT_*, TTA_SECRETS_ORDER, ...) are wrong
        ├── SecretNotFoundError (LookupError)
        │                                  no source has the name; names the sources searched
        │   └── VaultPathNotFoundError     404: the KV path does not exist, or its latest
        │                                  version is soft-deleted or destroyed
        └── VaultError                     Vault answered (or failed to) in a way we stop on
            ├── VaultAuthError             403, or an AppRole login refused
            ├── VaultSealedError           503: the server is sealed
            ├── VaultUnavailableError      unreachable (or 5xx) after bounded retries
            ├── VaultCheckAndSetError      a write's ``cas`` did not match the current version
            └── VaultRequestError          any other refusal or an unreadable answer

``VaultPathNotFoundError`` is also a ``VaultError``. A missing path is a kind of
"not found": a loader that searches several sources treats it as "not here" and
goes on, while a sealed, refusing or unreachable Vault stops the lookup (fail
closed: a lookup never answers with an empty or stale value instead).

No message ever holds a secret value, a token or a secret ID.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "SecretNotFoundError",
    "SecretsConfigError",
    "SecretsError",
    "VaultAuthError",
    "VaultCheckAndSetError",
    "VaultError",
    "VaultPathNotFoundError",
    "VaultRequestError",
    "VaultSealedError",
    "VaultUnavailableError",
]


class SecretsError(Exception):
    """Base of every tta_secrets error."""


class SecretsConfigError(SecretsError, ValueError):
    """The loader's settings are wrong (e.g. VAULT_ADDR set but no token or AppRole)."""


class SecretNotFoundError(SecretsError, LookupError):
    """No source has the secret; ``searched`` lists the sources, in the order tried."""

    def __init__(self, name: str, searched: Sequence[str], *, notes: Sequence[str] = ()) -> None:
        self.name = name
        self.searched = tuple(searched)
        self.notes = tuple(notes)
        where = ", ".join(self.searched) if self.searched else "no sources configured"
        message = f"secret {name!r} not found (searched: {where})"
        if self.notes:
            message += "; " + "; ".join(self.notes)
        super().__init__(f"{message}. {_how_to_set(name, self.searched)}")


def _how_to_set(name: str, searched: Sequence[str]) -> str:
    """The command that provides ``name``: a shell export, or a Vault write for ``PATH#FIELD``."""
    if "#" not in name:
        return (
            f"Set it with `export {name}=...`, a line `{name}=...` in .env, "
            "or a field of the Vault secret (see docs/SECRETS_QUICK_REF.md)"
        )
    # A Vault reference is no shell variable name: say where in Vault it is read from.
    vault = next((where for where in searched if where.startswith("vault:")), None)
    if vault is not None:
        mount_path, _, field = vault.removeprefix("vault:").rpartition("#")
        mount, _, path = mount_path.partition("/")
    else:
        sub, _, field = name.rpartition("#")
        mount, path = "secret", f"tta/{sub.strip('/')}"
    hint = (
        f"{name!r} is a Vault reference (PATH#FIELD): write it with "
        f"`vault kv patch -mount={mount} {path} {field}=...` "
        "(`vault kv put` if the secret does not exist yet)"
    )
    if vault is None:
        hint += "; set VAULT_ADDR and VAULT_TOKEN (or an AppRole) so that the loader reads Vault"
    return hint + " (see docs/SECRETS_QUICK_REF.md)"


class VaultError(SecretsError):
    """Vault refused, failed or could not be reached; ``status`` is the HTTP status if any."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        # Not super(): in VaultPathNotFoundError the next class in the MRO is
        # SecretNotFoundError, whose constructor builds a different message.
        Exception.__init__(self, message)
        self.status = status


class VaultPathNotFoundError(VaultError, SecretNotFoundError):
    """404 on a KV path: never written, or its latest version soft-deleted or destroyed.

    ``deleted`` is true when the body held version metadata with a ``deletion_time``
    (a soft delete, which ``undelete`` reverses); ``destroyed`` when the version was
    destroyed for good.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        deleted: bool = False,
        destroyed: bool = False,
        version: int | None = None,
    ) -> None:
        VaultError.__init__(self, message, status=404)
        self.name = path
        self.searched = ()
        self.notes = ()
        self.path = path
        self.deleted = deleted
        self.destroyed = destroyed
        self.version = version


class VaultAuthError(VaultError):
    """Vault refused the credentials (403), or an AppRole login failed."""


class VaultSealedError(VaultError):
    """Vault is sealed (503); it must be unsealed before any secret can be read."""


class VaultUnavailableError(VaultError):
    """Vault could not be reached, or kept failing, after the bounded retries."""


class VaultCheckAndSetError(VaultError):
    """A write's ``cas`` version did not match the secret's current version."""


class VaultRequestError(VaultError):
    """Vault refused the request for another reason, or answered something unreadable."""
