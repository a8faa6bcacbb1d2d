"""Scrub loaded secret values out of logs and spans.

Every value a :class:`~tta_secrets.loader.SecretLoader` returns is registered here
(and :func:`register_secret` adds others, such as a Vault token). :func:`scrub`
replaces each registered value, in the forms it travels in, with ``[REDACTED]``:

- raw;
- URL-encoded (``quote`` with and without ``/`` kept, and ``quote_plus``);
- base64, standard and URL-safe alphabets, at each of the three byte alignments:
  a value base64-encoded inside a longer string (``user:password`` in a Basic
  ``Authorization`` header) only shows the characters that depend on the value
  alone, so those are what is matched;
- hex, lower and upper case;
- a fragment: text that was cut (a body kept to its first 500 characters, a header
  a proxy truncated) may hold only part of a value. Any run of :data:`MIN_FRAGMENT`
  (8) or more characters that begins or ends the value (raw or URL-encoded) is
  replaced too, which is what a cut leaves. Fragments are matched
  for values that look like credentials (no whitespace; for a URL, its password):
  the first 8 characters of a URL (``https://``) are not worth hiding everywhere.

Values shorter than :data:`MIN_SECRET_LENGTH` (6) characters are not scrubbed:
a short value ("true", "5432", "admin") also occurs in ordinary text, and
replacing every occurrence would mangle logs while protecting nothing (a value
that short is guessable anyway). Such values are still masked by ``Secret``.

With nothing registered, :func:`scrub` returns its argument after one attribute
read, so the filter and the span processor cost next to nothing.

:class:`RedactingLogFilter` is a ``logging.Filter``; put it on handlers (a filter
on a logger does not see records propagated from child loggers).
``RedactingSpanProcessor`` (needs the ``otel`` extra: opentelemetry-sdk) wraps
another span processor and hands it a scrubbed copy of each ended span.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import TYPE_CHECKING, Any

from tta_secrets.secret import Secret

if TYPE_CHECKING:
    from tta_secrets.span_redaction import RedactingSpanProcessor

__all__ = [
    "MIN_FRAGMENT",
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "RedactingLogFilter",
    "RedactingSpanProcessor",
    "clear_registered_secrets",
    "contains_secret",
    "register_secret",
    "registered_count",
    "scrub",
    "url_without_credentials",
]

#: What a scrubbed value is replaced with.
REDACTED = "[REDACTED]"

#: Shorter values are not scrubbed (see the module docstring).
MIN_SECRET_LENGTH = 6

#: A prefix or suffix of a registered value this long is scrubbed too.
MIN_FRAGMENT = 8


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend on ``raw`` alone, at each alignment."""
    import base64  # here and below, not at the top: only registering a value needs them

    cores: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode("ascii")
        start = -(-8 * offset // 6)  # first character with no bits of the prefix
        end = 8 * (offset + len(raw)) // 6  # last character with no bits of what follows
        core = encoded[start:end]
        if len(core) >= MIN_SECRET_LENGTH:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    return cores


def _forms(value: str) -> set[str]:
    from urllib.parse import quote, quote_plus

    hexed = value.encode("utf-8").hex()
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), hexed, hexed.upper()}
    forms |= _base64_cores(value.encode("utf-8"))
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _fragment_sources(value: str) -> set[str]:
    """The strings whose fragments are scrubbed: a credential-like value and its quoting."""
    from urllib.parse import quote, unquote, urlsplit

    if "://" in value:
        # A URL or DSN: only its password is a credential; the rest is ordinary text.
        try:
            password = urlsplit(value).password
        except ValueError:  # not a URL after all (a bad IPv6 host, ...): treat it as text
            password = None
        value = unquote(password) if password else ""
    if len(value) <= MIN_FRAGMENT or any(c.isspace() for c in value):
        return set()
    return {value, quote(value, safe="")}


def _anchors(source: str) -> dict[str, int]:
    """Anchor text -> its offset in ``source``: its first and its last characters.

    Only the ends: every window of the middle too would make each scan several times
    slower (the pattern is tried at every position), and a single cut leaves a prefix.
    """
    end = len(source) - MIN_FRAGMENT
    return {source[:MIN_FRAGMENT]: 0, source[end:]: end}


class _Registry:
    """Registered values and one compiled pattern matching every form of them.

    The pattern holds the whole forms (longest first, so a form that contains
    another is replaced whole), then the fragment anchors: the first and last 8
    characters of each credential-like value. A match on an anchor is grown, outside the regex,
    as far as the text goes on agreeing with the value on either side.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._forms: set[str] = set()
        #: anchor -> (source, offset of the anchor in it) for each source holding it.
        self.anchors: dict[str, list[tuple[str, int]]] = {}
        self.pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        # Checked before taking the lock: the loader registers on every lookup.
        if len(value) < MIN_SECRET_LENGTH or value in self._values:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            self._forms |= _forms(value)
            for source in _fragment_sources(value):
                for anchor, at in _anchors(source).items():
                    self.anchors.setdefault(anchor, []).append((source, at))
            ordered = sorted(self._forms, key=lambda form: (-len(form), form))
            anchors = sorted(set(self.anchors) - self._forms)
            self.pattern = re.compile("|".join(map(re.escape, [*ordered, *anchors])))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._forms.clear()
            self.anchors = {}
            self.pattern = None

    def __len__(self) -> int:
        return len(self._values)


_registry = _Registry()


def register_secret(value: str | Secret) -> None:
    """Scrub ``value`` (and its encoded forms) from now on; short values are ignored."""
    if isinstance(value, Secret):
        value = value.get_secret_value()
    _registry.add(value)


def registered_count() -> int:
    """How many values are registered (for diagnostics; never the values)."""
    return len(_registry)


def clear_registered_secrets() -> None:
    """Forget every registered value (tests use it to start clean)."""
    _registry.clear()


def _grown(text: str, start: int, end: int, sources: list[tuple[str, int]]) -> tuple[int, int]:
    """The widest span around ``text[start:end]`` that is a fragment of one of ``sources``."""
    wide_start, wide_end = start, end
    for source, at in sources:
        left, index = start, at
        while left > 0 and index > 0 and text[left - 1] == source[index - 1]:
            left, index = left - 1, index - 1
        right, index = end, at + (end - start)
        while right < len(text) and index < len(source) and text[right] == source[index]:
            right, index = right + 1, index + 1
        wide_start, wide_end = min(wide_start, left), max(wide_end, right)
    return wide_start, wide_end


def scrub(text: str) -> str:
    """``text`` with every registered value, in every form, replaced by ``[REDACTED]``.

    Fragments of a credential-like value (see the module docstring) are replaced too.
    """
    pattern = _registry.pattern
    if pattern is None:
        return text
    anchors = _registry.anchors
    spans: list[tuple[int, int]] = []
    for match in pattern.finditer(text):
        start, end = match.span()
        sources = anchors.get(match.group())
        if sources is not None:
            start, end = _grown(text, start, end, sources)
        if spans and start <= spans[-1][1]:
            spans[-1] = (min(spans[-1][0], start), max(spans[-1][1], end))
        else:
            spans.append((start, end))
    if not spans:
        return text
    parts: list[str] = []
    done = 0
    for start, end in spans:
        parts += [text[done:start], REDACTED]
        done = end
    parts.append(text[done:])
    return "".join(parts)


def contains_secret(text: str) -> bool:
    """Whether ``text`` holds a registered value in any scrubbed form."""
    pattern = _registry.pattern
    return pattern is not None and pattern.search(text) is not None


def url_without_credentials(url: str) -> str:
    """``url`` without the user name and password it may carry, for messages and reprs.

    ``https://user:pw@host/path`` becomes ``https://host/path``; text that is not a
    URL comes back as it is. Query strings are kept: a key in one (``?key=``) is a
    registered secret, which :func:`scrub` removes.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    end = min((at for at in map(rest.find, "/?#") if at >= 0), default=len(rest))
    return f"{scheme}://{rest[:end].rpartition('@')[2]}{rest[end:]}"


#: LogRecord attributes that are not caller-supplied extras.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class RedactingLogFilter(logging.Filter):
    """Scrub registered secrets from a record's message, arguments, extras and traceback.

    When the formatted message holds a secret, the record's ``msg`` becomes the
    scrubbed message and ``args`` is emptied (an argument's own ``str`` may be
    where the value hides). A traceback holding one is formatted, scrubbed and
    stored as ``exc_text``, and ``exc_info`` is dropped, so no formatter can
    render the original again. The record is never dropped: ``filter`` returns true.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub ``record`` in place; always keep it."""
        if _registry.pattern is None:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit the format
            message = f"{record.msg} {record.args!r}"
        if contains_secret(message):
            record.msg = scrub(message)
            record.args = ()
        traceback = record.exc_text
        if not traceback and record.exc_info and record.exc_info[0] is not None:
            traceback = logging.Formatter().formatException(record.exc_info)
        if traceback and contains_secret(traceback):
            record.exc_text = scrub(traceback)
            record.exc_info = None
        if record.stack_info and contains_secret(record.stack_info):
            record.stack_info = scrub(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name not in _RECORD_FIELDS and isinstance(value, str) and contains_secret(value):
                setattr(record, name, scrub(value))
        return True


def __getattr__(name: str) -> Any:
    # The span processor needs opentelemetry-sdk (the ``otel`` extra); importing it
    # here only when asked keeps the log filter usable without the SDK.
    if name == "RedactingSpanProcessor":
        from tta_secrets.span_redaction import RedactingSpanProcessor

        return RedactingSpanProcessor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
