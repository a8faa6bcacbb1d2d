"""How the Redis cache turns values into bytes and back: JSON by default, never pickle.

A shared cache is written by many processes, so whatever reads an entry must not
run code chosen by whoever wrote it: the default :class:`JsonCodec` stores JSON
only. To cache other types, pass a codec (anything with ``encode``/``decode``, the
:class:`Codec` protocol) that turns them into JSON-safe data and back, e.g. a
dataclass codec: ``JsonCodec(to_json=asdict, from_json=lambda d: Reply(**d))``.
A value the codec cannot encode is simply not cached (the call still succeeds).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

__all__ = ["Codec", "JsonCodec"]


@runtime_checkable
class Codec(Protocol):
    """Turns cached values into bytes and back; raise ``TypeError``/``ValueError`` on failure."""

    def encode(self, value: Any) -> bytes:
        """The bytes stored for ``value``; ``TypeError`` if it cannot be stored."""
        ...

    def decode(self, data: bytes) -> Any:
        """The value ``data`` stands for; ``ValueError`` if it is not this codec's."""
        ...


class JsonCodec:
    """JSON with an optional conversion of your own types on each side.

    ``to_json(value)`` makes JSON-safe data of a value JSON does not know (default:
    refuse it); ``from_json(data)`` rebuilds the value from the decoded JSON (default:
    keep the decoded JSON). Tuples come back as lists, as JSON has no tuple.
    """

    def __init__(
        self,
        *,
        to_json: Callable[[Any], Any] | None = None,
        from_json: Callable[[Any], Any] | None = None,
    ) -> None:
        self._to_json = to_json
        self._from_json = from_json

    def encode(self, value: Any) -> bytes:
        """UTF-8 JSON of ``value`` (after ``to_json``); ``TypeError`` for unknown types."""
        data = self._to_json(value) if self._to_json is not None else value
        return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()

    def decode(self, data: bytes) -> Any:
        """The value stored as ``data`` (through ``from_json`` when given)."""
        decoded = json.loads(data)
        return self._from_json(decoded) if self._from_json is not None else decoded
