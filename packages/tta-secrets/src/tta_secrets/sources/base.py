"""``SecretSource``: one place secrets can come from, asked for one name at a time."""

from __future__ import annotations

from abc import ABC, abstractmethod

__all__ = ["SecretSource"]


class SecretSource(ABC):
    """A source of secrets. ``lookup`` answers the value, or ``None`` if it has none.

    A source never answers an empty string: an empty value means "not set here", so
    the loader goes on to the next source. A source that cannot answer (Vault
    sealed, refusing, unreachable) raises instead of answering ``None``.
    """

    @property
    @abstractmethod
    def label(self) -> str:
        """Where this source reads, for messages: ``env``, ``dotenv:/app/.env``, ..."""

    @abstractmethod
    def lookup(self, name: str) -> str | None:
        """The value of ``name``, or ``None`` if this source does not have it."""

    def where(self, name: str) -> str:
        """Where ``name`` is found in this source: ``env:OPENAI_API_KEY``, ..."""
        return f"{self.label}#{name}"

    def close(self) -> None:  # noqa: B027 - optional hook; most sources hold nothing
        """Release connections (Vault's HTTP client)."""
