"""Dynamic table and column names, validated and quoted: the only way they enter SQL.

Values are always bound parameters; a name cannot be, so a name chosen at run time goes
through :func:`quote_identifier` (or :class:`Identifier`), which wraps each part in
double quotes and doubles any double quote inside, the SQL standard quoting that both
PostgreSQL and SQLite follow. Whatever the name holds, it stays one name::

    table = quote_identifier("reports.2024")        # '"reports"."2024"'
    await db.fetch_all(f"SELECT * FROM {table} WHERE id = %s", [7])

Quoted names are case-sensitive: ``quote_identifier("Users")`` is not ``users``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["MAX_IDENTIFIER_BYTES", "Identifier", "quote_identifier"]

#: PostgreSQL silently truncates longer names (NAMEDATALEN - 1); refusing them is safer.
MAX_IDENTIFIER_BYTES = 63


def _check_part(part: object) -> str:
    if not isinstance(part, str):
        raise ValueError(f"an identifier part must be a string, got {type(part).__name__}")
    if not part:
        raise ValueError("an identifier part must not be empty (check for a stray '.')")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in part):
        raise ValueError(
            f"identifier {part!r} contains a control character (NUL, newline, ...): refused"
        )
    try:
        size = len(part.encode())
    except UnicodeEncodeError:
        raise ValueError(
            f"identifier {part!r} is not valid Unicode text (a lone surrogate?): refused"
        ) from None
    if size > MAX_IDENTIFIER_BYTES:
        raise ValueError(
            f"identifier {part[:20]!r}... is longer than {MAX_IDENTIFIER_BYTES} bytes; "
            "PostgreSQL would truncate it"
        )
    return part


class Identifier:
    """A possibly schema-qualified name (``schema.table`` or ``table.column``), validated.

    ``Identifier("public", "users")`` takes the parts as given (a part may contain a
    dot); :meth:`parse` splits a dotted string. ``str()`` is the quoted SQL form.
    """

    __slots__ = ("parts",)

    def __init__(self, *parts: str) -> None:
        if not 1 <= len(parts) <= 3:
            raise ValueError(
                f"an identifier has 1 to 3 parts (database.schema.name), got {len(parts)}"
            )
        self.parts: tuple[str, ...] = tuple(_check_part(part) for part in parts)

    @classmethod
    def parse(cls, dotted: str) -> Identifier:
        """``"schema.table"`` split on its dots: each part validated and quoted apart."""
        if not isinstance(dotted, str):
            raise ValueError(f"an identifier must be a string, got {type(dotted).__name__}")
        return cls(*dotted.split("."))

    @property
    def quoted(self) -> str:
        """The SQL form: each part in double quotes, inner double quotes doubled."""
        return ".".join('"' + part.replace('"', '""') + '"' for part in self.parts)

    def __str__(self) -> str:
        return self.quoted

    def __repr__(self) -> str:
        return f"Identifier({', '.join(repr(p) for p in self.parts)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identifier) and other.parts == self.parts

    def __hash__(self) -> int:
        return hash(self.parts)


def quote_identifier(name: str | Identifier | Sequence[str]) -> str:
    """The quoted SQL form of a table or column name.

    A string is split on dots (``"public.users"`` -> ``"public"."users"``); pass a
    tuple of parts for a name that itself contains a dot. ``ValueError`` for an
    empty part, a control character or a part over 63 bytes.
    """
    if isinstance(name, Identifier):
        return name.quoted
    if isinstance(name, str):
        return Identifier.parse(name).quoted
    return Identifier(*name).quoted
