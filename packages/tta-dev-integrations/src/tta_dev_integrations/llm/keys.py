"""Where provider keys come from: one lookup function the whole LLM layer calls.

By default keys come from the process-wide secret loader of tta_secrets
(:func:`tta_secrets.default_loader`): the environment, then the ``.env`` file,
then Vault when ``VAULT_ADDR`` is set. So a key kept in ``.env`` or in Vault works
for every provider and for ``UniversalLLMPrimitive`` with no extra code, and every
key used is registered for scrubbing from logs and spans.

If Vault is configured but sealed, refusing or unreachable, the lookup raises the
loader's error (:class:`tta_secrets.VaultError`) instead of answering "no key":
fail closed and loud. :func:`set_key_lookup` replaces the lookup for the process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tta_secrets import SecretLoader, SecretStatus

__all__ = ["FoundKey", "lookup_key", "provider_key_status", "set_key_lookup"]


@dataclass(frozen=True, slots=True)
class FoundKey:
    """A key and where it was found (``"env:OPENAI_API_KEY"``); the value stays out of repr."""

    value: str = field(repr=False)
    source: str


def _from_secret_loader(names: Sequence[str]) -> FoundKey | None:
    # Imported here: the LLM layer's import stays light, and tests may swap the loader.
    from tta_secrets import default_loader

    located = default_loader().locate_any(names)
    if located is None:
        return None
    return FoundKey(located.secret.get_secret_value(), located.source)


_lookup: Callable[[Sequence[str]], FoundKey | None] = _from_secret_loader


def lookup_key(names: Sequence[str]) -> FoundKey | None:
    """The first of the variables ``names`` that has a value, or ``None``.

    Sources are searched in the loader's order, each for every name, so a key in
    the environment beats one in ``.env`` or Vault.
    """
    return _lookup(names)


def set_key_lookup(lookup: Callable[[Sequence[str]], FoundKey | None] | None) -> None:
    """Replace where keys are looked up (``None`` restores the secret loader)."""
    global _lookup  # noqa: PLW0603 - one process-wide lookup, swapped as a whole
    _lookup = lookup or _from_secret_loader


def provider_key_status(loader: SecretLoader | None = None) -> list[SecretStatus]:
    """For every provider of the catalog: is a key configured, and where (never the value).

    Providers that need no key (Ollama, the local model) are reported with
    ``key_required`` false. ``loader`` defaults to the process-wide one.
    """
    from tta_dev_integrations.llm.providers.registry import PROVIDER_SPECS
    from tta_secrets import provider_status

    key_names = {
        name: spec.key_envs if spec.key_required else () for name, spec in PROVIDER_SPECS.items()
    }
    return provider_status(key_names, loader)
