"""``SecretLoader``: look a secret up through an ordered chain of sources.

The default chain (:meth:`SecretLoader.from_environment`, behind
:func:`default_loader`) is the process environment, then a ``.env`` file, then
Vault when ``VAULT_ADDR`` is set. Its settings, read from the environment and
then from the ``.env`` file itself:

=====================  ==========================================================
``TTA_DOTENV``         the ``.env`` file (default ``./.env``; a missing file is fine)
``TTA_SECRETS_ORDER``  the chain, comma-separated (default ``env,dotenv,vault``)
``VAULT_ADDR``         Vault's address; unset means no Vault source
``VAULT_TOKEN``        a token, or else:
``VAULT_ROLE_ID``      an AppRole role ID and
``VAULT_SECRET_ID``    its secret ID; with neither, the token the Vault CLI saved
                       at login in ``~/.vault-token``
``VAULT_CACERT``       TLS: CA file, CA directory (``VAULT_CAPATH``), client
                       certificate and key (``VAULT_CLIENT_CERT``, ``VAULT_CLIENT_KEY``),
                       ``VAULT_SKIP_VERIFY`` (see :mod:`tta_secrets.sources.vault_tls`)
``VAULT_NAMESPACE``    sent as ``X-Vault-Namespace`` (Vault Enterprise, OpenBao)
``TTA_VAULT_MOUNT``    the KV v2 mount (default ``secret``)
``TTA_VAULT_PATH``     the secret holding the fields (default ``tta``)
``TTA_VAULT_TTL``      seconds a secret read from Vault is reused (default 300)
=====================  ==========================================================

Every value the loader returns is registered for redaction
(:mod:`tta_secrets.redaction`) before it is returned.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tta_secrets.errors import SecretNotFoundError, SecretsConfigError, VaultPathNotFoundError
from tta_secrets.redaction import register_secret
from tta_secrets.secret import Secret
from tta_secrets.sources.base import SecretSource
from tta_secrets.sources.dotenv import DotenvSource
from tta_secrets.sources.env import EnvSource
from tta_secrets.sources.vault import VaultSource

__all__ = [
    "DEFAULT_ORDER",
    "Located",
    "SecretLoader",
    "default_loader",
    "reset_default_loader",
    "set_default_loader",
]

#: The default chain, first to last.
DEFAULT_ORDER = ("env", "dotenv", "vault")


@dataclass(frozen=True, slots=True)
class Located:
    """A secret and where it was found: ``env:OPENAI_API_KEY``, ``vault:secret/tta#KEY``, ..."""

    name: str
    secret: Secret
    source: str


class SecretLoader:
    """Looks names up through ``sources`` in order; the first non-empty value wins.

    A source that cannot answer (Vault sealed, refusing, unreachable) stops the
    lookup with its error: the loader never falls through to a later source or
    answers "not found" because an earlier one failed. A Vault path that does
    not exist counts as "not here", and the reason is kept in the
    :class:`~tta_secrets.errors.SecretNotFoundError` (as a note and as its cause).
    """

    def __init__(self, sources: Sequence[SecretSource]) -> None:
        self.sources = tuple(sources)

    def __repr__(self) -> str:
        return f"SecretLoader([{', '.join(source.label for source in self.sources)}])"

    @classmethod
    def from_environment(
        cls, environ: Mapping[str, str] | None = None, *, cwd: str | Path | None = None
    ) -> SecretLoader:
        """The default chain, configured by the variables in the module docstring."""
        env = os.environ if environ is None else environ
        dotenv_path = Path(env.get("TTA_DOTENV") or ".env")
        if not dotenv_path.is_absolute():
            dotenv_path = Path(cwd or Path.cwd()) / dotenv_path
        dotenv = DotenvSource(dotenv_path)

        def setting(name: str) -> str | None:
            return env.get(name) or dotenv.lookup(name)

        order = [part.strip() for part in (setting("TTA_SECRETS_ORDER") or "").split(",")]
        order = [part for part in order if part] or list(DEFAULT_ORDER)
        unknown = sorted(set(order) - set(DEFAULT_ORDER))
        if unknown:
            raise SecretsConfigError(
                f"TTA_SECRETS_ORDER names unknown sources {unknown}; use a comma-separated "
                f"subset of {', '.join(DEFAULT_ORDER)}"
            )
        sources: list[SecretSource] = []
        for kind in order:
            if kind == "env":
                sources.append(EnvSource(environ))
            elif kind == "dotenv":
                sources.append(dotenv)
            elif setting("VAULT_ADDR"):
                sources.append(_vault_from_settings(setting))
        return cls(sources)

    def locate_any(self, names: Sequence[str]) -> Located | None:
        """The first of ``names`` found, or ``None``.

        Sources come first: each source is asked for every name before the next
        source is asked, so ``GOOGLE_API_KEY`` in the environment beats
        ``GEMINI_API_KEY`` in Vault.
        """
        return self._search(names)[0]

    def locate(self, name: str) -> Located | None:
        """``name`` and where it was found, or ``None``."""
        return self._search([name])[0]

    def find(self, name: str) -> Secret | None:
        """The secret ``name``, or ``None`` if no source has it."""
        located = self.locate(name)
        return located.secret if located is not None else None

    def get(self, name: str) -> Secret:
        """The secret ``name``; :class:`~tta_secrets.errors.SecretNotFoundError` if absent."""
        located, misses = self._search([name])
        if located is not None:
            return located.secret
        notes = [str(miss) for miss in misses]
        error = SecretNotFoundError(
            name, [source.where(name) for source in self.sources], notes=notes
        )
        raise error from (misses[0] if misses else None)

    async def aget(self, name: str) -> Secret:
        """:meth:`get` in a worker thread, so a Vault round trip never blocks the loop."""
        return await asyncio.to_thread(self.get, name)

    async def alocate_any(self, names: Sequence[str]) -> Located | None:
        """:meth:`locate_any` in a worker thread."""
        return await asyncio.to_thread(self.locate_any, names)

    def close(self) -> None:
        """Close every source's connections."""
        for source in self.sources:
            source.close()

    def _search(self, names: Sequence[str]) -> tuple[Located | None, list[VaultPathNotFoundError]]:
        misses: list[VaultPathNotFoundError] = []
        for source in self.sources:
            for name in names:
                try:
                    value = source.lookup(name)
                except VaultPathNotFoundError as error:
                    misses.append(error)
                    continue
                if value:
                    register_secret(value)
                    return Located(name, Secret(value), source.where(name)), misses
        return None, misses


def _vault_from_settings(setting: Callable[[str], str | None]) -> VaultSource:
    ttl_text = setting("TTA_VAULT_TTL") or "300"
    try:
        ttl_s = float(ttl_text)
    except ValueError:
        raise SecretsConfigError(f"TTA_VAULT_TTL must be seconds, got {ttl_text!r}") from None
    token = setting("VAULT_TOKEN")
    if not token and not (setting("VAULT_ROLE_ID") or setting("VAULT_SECRET_ID")):
        token = _cli_token()
    skip = (setting("VAULT_SKIP_VERIFY") or "").strip().lower()
    try:
        return VaultSource(
            setting("VAULT_ADDR") or "",
            token=token,
            ca_cert=setting("VAULT_CACERT"),
            ca_path=setting("VAULT_CAPATH"),
            client_cert=setting("VAULT_CLIENT_CERT"),
            client_key=setting("VAULT_CLIENT_KEY"),
            skip_verify=skip in ("1", "t", "true"),  # Go's strconv.ParseBool, as the CLI
            role_id=setting("VAULT_ROLE_ID"),
            secret_id=setting("VAULT_SECRET_ID"),
            namespace=setting("VAULT_NAMESPACE"),
            mount=setting("TTA_VAULT_MOUNT") or "secret",
            path=setting("TTA_VAULT_PATH") or "tta",
            ttl_s=ttl_s,
        )
    except ValueError as error:
        raise SecretsConfigError(f"VAULT_ADDR is set, but {error}") from None


def _cli_token() -> str | None:
    """The token ``vault login`` (or ``bao login``) saved in ``~/.vault-token``, if any."""
    try:
        token = (Path.home() / ".vault-token").read_text(encoding="utf-8").strip()
    except (OSError, RuntimeError, UnicodeDecodeError):
        return None
    return token or None


_default: SecretLoader | None = None
_default_lock = threading.Lock()


def default_loader() -> SecretLoader:
    """The process-wide loader, built from the environment on first use and then reused."""
    global _default  # noqa: PLW0603 - one process-wide loader, replaced as a whole
    loader = _default
    if loader is not None:
        return loader
    with _default_lock:
        if _default is None:
            _default = SecretLoader.from_environment()
        return _default


def set_default_loader(loader: SecretLoader | None) -> None:
    """Use ``loader`` as the process-wide loader (``None``: build it again on next use)."""
    global _default
    with _default_lock:
        old, _default = _default, loader
    if old is not None and old is not loader:
        old.close()


def reset_default_loader() -> None:
    """Forget the process-wide loader; the next :func:`default_loader` reads settings again."""
    set_default_loader(None)
