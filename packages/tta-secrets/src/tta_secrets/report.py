"""Which secrets are configured, and where: for every LLM provider, or any list of names.

tta_secrets knows nothing of the LLM catalog (the layers only import downward), so
the caller passes each provider's key variable names; the integrations package
does it in ``tta_dev_integrations.llm.keys.provider_key_status``. A report never
holds a value: only whether one was found, where, and a masked preview.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tta_secrets.errors import SecretsError, VaultPathNotFoundError
from tta_secrets.loader import SecretLoader, default_loader

__all__ = ["SecretStatus", "SourceProblem", "provider_status", "secret_status", "source_problems"]


@dataclass(frozen=True, slots=True)
class SecretStatus:
    """Whether ``name`` (a provider or a secret) is configured, and from where.

    ``source`` is ``env:OPENAI_API_KEY``, ``dotenv:/app/.env#OPENAI_API_KEY``,
    ``vault:secret/tta#OPENAI_API_KEY``, or ``None``. ``preview`` is a masked hint
    (``****wxyz``). ``error`` says why the lookup failed (Vault sealed, ...), in
    which case ``configured`` is false. ``key_required`` is false for providers
    that need no key (a local server).
    """

    name: str
    configured: bool
    source: str | None
    names: tuple[str, ...]
    preview: str | None = None
    error: str | None = None
    key_required: bool = True


def _status(name: str, names: Sequence[str], loader: SecretLoader) -> SecretStatus:
    names = tuple(names)
    if not names:
        return SecretStatus(name, True, None, names, key_required=False)
    try:
        located = loader.locate_any(names)
    except SecretsError as error:
        return SecretStatus(name, False, None, names, error=f"{type(error).__name__}: {error}")
    if located is None:
        return SecretStatus(name, False, None, names)
    return SecretStatus(name, True, located.source, names, located.secret.preview())


def provider_status(
    key_names: Mapping[str, Sequence[str]], loader: SecretLoader | None = None
) -> list[SecretStatus]:
    """One status per provider, in the order given.

    ``key_names`` maps a provider to the variables that may hold its key, in order
    of preference (``{"gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY")}``); an empty
    sequence means the provider needs no key. A failing source (Vault sealed) is
    reported in that provider's ``error``; it does not stop the report.
    """
    loader = loader or default_loader()
    return [_status(name, names, loader) for name, names in key_names.items()]


def secret_status(names: Sequence[str], loader: SecretLoader | None = None) -> list[SecretStatus]:
    """One status per secret name, in the order given."""
    loader = loader or default_loader()
    return [_status(name, (name,), loader) for name in names]


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """A source of the loader that cannot answer now: which one, and why.

    ``source`` is the source's label (``vault:secret/tta``); ``error`` names the
    error class and carries its message, which says how to fix it (unseal Vault,
    check ``VAULT_TOKEN``, check ``VAULT_ADDR``...). Never a secret value.
    """

    source: str
    error: str

    def __str__(self) -> str:
        return f"{self.source}: {self.error}"


def source_problems(
    loader: SecretLoader | None = None, probe: str = "TTA_SOURCE_CHECK"
) -> list[SourceProblem]:
    """The sources that fail when asked for ``probe`` (any name will do): sealed, down, refused.

    Asking reads what a real lookup reads (for Vault: the default KV path, through
    its cache), so a source that answers here answers lookups. A Vault path that
    does not exist is not a failure: it only means the names are not there.
    """
    loader = loader or default_loader()
    problems = []
    for source in loader.sources:
        try:
            source.lookup(probe)
        except VaultPathNotFoundError:
            continue
        except SecretsError as error:
            problems.append(SourceProblem(source.label, f"{type(error).__name__}: {error}"))
    return problems
