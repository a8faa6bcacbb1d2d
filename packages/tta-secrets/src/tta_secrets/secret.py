"""``Secret``: a value that shows a mask everywhere except through one explicit call.

``repr``, ``str``, ``format`` and f-strings show ``**********`` (always ten stars,
so not even the length shows). ``json.dumps`` raises ``TypeError`` (a ``Secret``
is not a ``str`` subclass, so the encoder does not know it); with
``default=str`` it writes the mask. Pickling raises ``TypeError``: a pickle is
data that leaves the process (a cache, a queue, a file), and a secret that
silently lost its value there would fail far from the cause, so refusing at the
point of pickling is the clearer failure. ``copy``/``deepcopy`` return the same
object (it is immutable), so configuration objects holding one stay copyable.

Equality with another ``Secret`` uses :func:`hmac.compare_digest` (no early exit,
so no timing signal); a ``Secret`` never equals a plain ``str``, and it is not
hashable (a hash of the value would be a fingerprint of it).
"""

from __future__ import annotations

from typing import Any, NoReturn, Self

__all__ = ["MASK", "Secret"]

#: What every rendering of a :class:`Secret` shows.
MASK = "**********"

#: A preview shows the last four characters only of values at least this long.
_PREVIEW_MIN_LENGTH = 16


class Secret:
    """A secret string; read it with :meth:`get_secret_value`."""

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a Secret holds a str, not {type(value).__name__}")
        self.__value = value

    def get_secret_value(self) -> str:
        """The value itself. Every other way of showing a ``Secret`` shows a mask."""
        return self.__value

    def preview(self) -> str:
        """A masked hint for humans: ``****wxyz`` for values of 16+ characters, else ``****``.

        The same convention as cloud CLIs' ``configure list``: enough to tell two keys
        apart, far too little to use one.
        """
        if len(self.__value) >= _PREVIEW_MIN_LENGTH:
            return "****" + self.__value[-4:]
        return "****"

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, format_spec: str) -> str:
        return format(MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        import hmac  # here, not at the top: hmac loads OpenSSL's hashlib (~1.5 ms)

        return hmac.compare_digest(
            self.__value.encode("utf-8"), other.get_secret_value().encode("utf-8")
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(
            "a Secret cannot be pickled: its value would leave the process; "
            "pickle the name of the secret and load it again on the other side"
        )

    def __copy__(self) -> Self:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self
