"""Providers: who serves a model, where, with which key. Wire formats live in adapters.

A :class:`Provider` turns an :class:`LLMRequest` into a :class:`Reply` (or a stream
of :class:`StreamPiece`). :class:`HTTPProvider` owns what every HTTP API shares:
the base URL, the key and its header, one pooled ``httpx2.AsyncClient``, SSE reading,
and the conversion of HTTP and network failures into the errors of
:mod:`tta_dev_integrations.llm.errors`. What differs per API (the JSON shapes) is a
:class:`WireAPI` adapter: one file per API, shared by every vendor that speaks it.
"""

from __future__ import annotations

import json
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tta_dev_integrations.llm.errors import (
    AuthenticationError,
    BadRequestError,
    LLMError,
    ProviderUnavailableError,
    RateLimitError,
    ResponseError,
    StreamInterruptedError,
)
from tta_dev_integrations.llm.keys import lookup_key
from tta_dev_integrations.llm.types import LLMRequest, ToolCall, Usage
from tta_secrets.redaction import register_secret, scrub, url_without_credentials

if TYPE_CHECKING:
    import asyncio

    import httpx2

__all__ = [
    "HTTPCall",
    "HTTPProvider",
    "Provider",
    "ProviderSpec",
    "Reply",
    "StreamPiece",
    "WireAPI",
    "default_http_error",
    "parse_retry_after",
    "sse_lines",
    "token_count",
    "token_sum",
]


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """Static facts about a provider: its API, default URL and where its key lives."""

    name: str
    api: str
    base_url: str
    base_url_env: str
    key_envs: tuple[str, ...] = ()
    key_required: bool = True
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HTTPCall:
    """An HTTP request an adapter wants made: path (under the base URL), JSON, extras."""

    path: str
    body: Mapping[str, Any]
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Reply:
    """A provider's complete answer, decoded. ``usage`` is ``None`` if none was reported."""

    content: str
    finish_reason: str | None
    usage: Usage | None
    provider_model: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    raw: Any = field(default=None, repr=False)
    #: The provider's id for this answer (``chatcmpl-...``, ``msg_...``), when it gives one.
    response_id: str = ""


@dataclass(frozen=True, slots=True)
class StreamPiece:
    """Part of a streamed answer: text, and at the end usage and finish reason.

    ``done`` marks the provider's own end-of-stream signal; a stream that closes
    without one was cut.
    """

    text: str = ""
    usage: Usage | None = None
    finish_reason: str | None = None
    provider_model: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    done: bool = False
    response_id: str = ""


class WireAPI(ABC):
    """The JSON of one API: how to ask, and how to read the answer and its errors."""

    @abstractmethod
    def auth_headers(self, key: str) -> dict[str, str]:
        """Headers that carry ``key``."""

    @abstractmethod
    def build(self, request: LLMRequest, model_id: str, *, stream: bool) -> HTTPCall:
        """The HTTP call for ``request`` to ``model_id``."""

    @abstractmethod
    def parse(self, body: Any) -> Reply:
        """Read a complete (non-streamed) answer; raise ``ResponseError`` if malformed."""

    @abstractmethod
    def parse_event(self, event: str | None, data: str) -> StreamPiece | None:
        """Read one server-sent event; ``None`` for events that carry nothing for us."""

    def stream_reader(self) -> Callable[[str | None, str], StreamPiece | None]:
        """The event reader for ONE stream; :class:`HTTPProvider` asks for one per stream.

        The default is :meth:`parse_event`, for APIs whose events each stand alone. An
        API that spreads one answer over several events (Anthropic reports input
        tokens at the start and output tokens at the end) returns a fresh object's
        method here, so the streams an adapter serves at once never share state.
        """
        return self.parse_event

    @abstractmethod
    def error(self, status: int, body: Any, headers: Mapping[str, str]) -> LLMError:
        """The error for an HTTP error answer (``body`` is decoded JSON, or text)."""


class Provider(ABC):
    """Serves models of one provider. One instance per provider keeps one pool."""

    name: str
    #: Whether the model runs in this process (its spans are INTERNAL, not CLIENT).
    in_process: bool = False

    @abstractmethod
    async def complete(self, request: LLMRequest, model_id: str) -> Reply:
        """Send ``request`` to ``model_id`` and return the whole answer."""

    @abstractmethod
    def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        """Send ``request`` and yield the answer as it arrives."""

    def is_configured(self) -> bool:
        """Whether the provider has what it needs to be called (a key, a model file)."""
        return True

    def server_address(self) -> tuple[str, int] | None:
        """The host and port calls go to (``server.address``/``server.port``), if any."""
        return None

    async def is_available(self, probe_timeout_s: float = 0.5) -> bool:
        """Whether it can serve now: configured, and for key-less servers, answering."""
        return self.is_configured()

    def cached_availability(self) -> bool:
        """Whether it can serve, as far as is known without asking it anything (no probe)."""
        return self.is_configured()

    async def aclose(self) -> None:  # noqa: B027 - optional hook; most providers hold nothing
        """Release pooled connections or loaded models."""


class HTTPProvider(Provider):
    """A provider reached over HTTP through one pooled ``httpx2.AsyncClient``.

    ``api_key`` and ``base_url`` override the environment (``spec.key_envs``,
    ``spec.base_url_env``). ``timeout`` bounds each read, write and wait for a pooled
    connection, ``connect_timeout`` each connection attempt. The client is created on
    first use, inside the running event loop, and re-created if a later call runs on
    another loop; it honours ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY``
    and ``SSL_CERT_FILE``/``SSL_CERT_DIR`` as they are at that moment. ``transport``
    replaces the network (an ``httpx2`` transport, e.g. ``httpx2.MockTransport``); the
    proxy variables then do not apply.
    """

    #: Seconds a key-less server's availability probe is trusted.
    probe_ttl_s: float = 30.0

    def __init__(
        self,
        spec: ProviderSpec,
        api: WireAPI,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 10.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.api = api
        self.base_url = (base_url or os.environ.get(spec.base_url_env) or spec.base_url).rstrip("/")
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._api_key = api_key
        if api_key is not None:
            register_secret(api_key)  # scrubbed from logs and spans, like a loaded key
        self._transport = transport
        self._client: httpx2.AsyncClient | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._probed: tuple[float, bool] | None = None

    def __repr__(self) -> str:
        shown = url_without_credentials(self.base_url)
        return f"{type(self).__name__}(name={self.name!r}, base_url={shown!r})"

    def is_configured(self) -> bool:
        """Whether a key is available (or none is needed)."""
        return not self.spec.key_required or self._key() is not None

    def server_address(self) -> tuple[str, int] | None:
        """Host and port of the base URL (the scheme's default port when none is given)."""
        from urllib.parse import urlsplit

        url = urlsplit(self.base_url)
        if not url.hostname:
            return None
        try:
            port = url.port
        except ValueError:
            return None
        return url.hostname, port or (443 if url.scheme == "https" else 80)

    async def is_available(self, probe_timeout_s: float = 0.5) -> bool:
        """Configured, and, for a server that needs no key (Ollama), answering ``/models``.

        Keyed cloud providers are not probed: a key is taken as availability, and
        failures surface as errors on the call, where fallbacks handle them. A probe's
        answer is kept for ``probe_ttl_s``, so routing many calls costs one probe.
        """
        if not self.is_configured():
            return False
        if self.spec.key_required:
            return True
        now = time.monotonic()
        if self._probed is not None and now - self._probed[0] < self.probe_ttl_s:
            return self._probed[1]
        import httpx2

        try:
            response = await self._http().get("/models", timeout=probe_timeout_s)
            answering = response.status_code < 500
        except httpx2.HTTPError:
            answering = False
        self._probed = (now, answering)
        return answering

    def cached_availability(self) -> bool:
        """Configured; for a key-less server, its last probe (within ``probe_ttl_s``) answered."""
        if not self.is_configured():
            return False
        if self.spec.key_required:
            return True
        probed = self._probed
        return probed is not None and time.monotonic() - probed[0] < self.probe_ttl_s and probed[1]

    def _key(self) -> str | None:
        if self._api_key is not None:
            return self._api_key
        found = lookup_key(self.spec.key_envs)
        return found.value if found is not None else None

    def _headers(self, model_id: str) -> dict[str, str]:
        headers = dict(self.spec.headers)
        key = self._key()
        if key is not None:
            headers.update(self.api.auth_headers(key))
        elif self.spec.key_required:
            raise AuthenticationError(
                f"no API key for {self.name}",
                env_vars=self.spec.key_envs,
                provider=self.name,
                model=model_id,
            )
        return headers

    def _http(self) -> httpx2.AsyncClient:
        import asyncio  # here, not at the top: the layer's import stays light

        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            import httpx2

            self._client = httpx2.AsyncClient(
                base_url=self.base_url,
                timeout=httpx2.Timeout(self.timeout, connect=self.connect_timeout),
                transport=self._transport,
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the pooled client."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def complete(self, request: LLMRequest, model_id: str) -> Reply:
        """Send ``request`` and decode the whole answer."""
        import httpx2

        call = self.api.build(request, model_id, stream=False)
        try:
            # params=None, not {}: an empty mapping makes httpx2 rebuild the URL. The
            # headers (the key) are built in the call, so no frame of ours holds them.
            response = await self._http().post(
                call.path,
                json=call.body,
                params=call.params or None,
                headers={**self._headers(model_id), **call.headers},
            )
        except httpx2.HTTPError as error:
            raise self._network_error(error, model_id) from error
        if response.status_code >= 400:
            raise self._http_error(
                response.status_code, response.content, response.headers, model_id
            )
        try:
            body = response.json()
        except ValueError as error:
            raise ResponseError(
                "the provider's answer is not valid JSON",
                provider=self.name,
                model=model_id,
                status_code=response.status_code,
            ) from error
        try:
            return self.api.parse(body)
        except LLMError as error:
            raise self._own(error, model_id) from error.__cause__
        except (KeyError, IndexError, TypeError, ValueError) as error:
            shape = ResponseError(
                f"the provider's answer has an unexpected shape ({type(error).__name__}: {error})"
            )
            raise self._own(shape, model_id) from error

    async def stream(self, request: LLMRequest, model_id: str) -> AsyncIterator[StreamPiece]:
        """Send ``request`` with streaming on; yield pieces as events arrive."""
        import httpx2

        call = self.api.build(request, model_id, stream=True)
        read_event = self.api.stream_reader()
        text: list[str] = []
        finished = False
        try:
            async with self._http().stream(
                "POST",
                call.path,
                json=call.body,
                params=call.params or None,
                headers={**self._headers(model_id), **call.headers, "accept": "text/event-stream"},
            ) as response:
                if response.status_code >= 400:
                    body = await response.aread()
                    raise self._http_error(response.status_code, body, response.headers, model_id)
                async for event, data in _server_sent_events(response):
                    if finished:
                        # Read the body to its end, so the connection goes back to the
                        # pool instead of being closed (a new TLS handshake per stream).
                        continue
                    if event == "error" or '"error"' in data:
                        # Scrubbed before the adapter reads it: it may cut or mask by shape.
                        data = self._redacted_event(data)  # noqa: PLW2901
                    try:
                        piece = read_event(event, data)
                    except LLMError as error:
                        raise self._own(error, model_id) from error.__cause__
                    except (KeyError, IndexError, TypeError, ValueError) as error:
                        raise StreamInterruptedError(
                            f"a streamed event could not be read ({type(error).__name__})",
                            partial_text="".join(text),
                            provider=self.name,
                            model=model_id,
                        ) from error
                    if piece is None:
                        continue
                    text.append(piece.text)
                    finished = piece.done
                    yield piece
        except httpx2.HTTPError as error:
            if text:
                raise StreamInterruptedError(
                    f"the stream broke off ({type(error).__name__})",
                    partial_text="".join(text),
                    provider=self.name,
                    model=model_id,
                ) from error
            raise self._network_error(error, model_id) from error
        if not finished:
            raise StreamInterruptedError(
                "the stream ended before the provider said it was complete",
                partial_text="".join(text),
                provider=self.name,
                model=model_id,
            )

    def _http_error(
        self, status: int, content: bytes, headers: Mapping[str, str], model_id: str
    ) -> LLMError:
        # Every secret leaves the body before anything is cut or masked by shape: a cut
        # key no longer matches whole, and a shape may stop short of the key's end.
        body: Any
        try:
            body = self._redacted(json.loads(content)) if content else None
        except ValueError:
            body = self._redacted(content.decode("utf-8", "replace"))[:500]
        error = self.api.error(status, body, headers)
        if isinstance(error, AuthenticationError) and not error.env_vars:
            error = AuthenticationError(error.message, env_vars=self.spec.key_envs)
        return self._own(error, model_id, status)

    def _own(self, error: LLMError, model_id: str, status: int | None = None) -> LLMError:
        """Fill in who failed, and make sure no secret is in the message, in any form.

        The key itself is removed even if it was never registered with the secrets
        loader (a key passed as ``api_key=``); ``scrub`` removes every loaded secret,
        also URL-encoded or in base64, as a server may echo it in either.
        """
        error.provider = error.provider or self.name
        error.model = error.model or model_id
        error.status_code = error.status_code or status
        message = self._redacted(error.message)
        if message != error.message:
            error.message = message
            error.args = (message,)
        return error

    def _redacted(self, value: Any) -> Any:
        """``value`` (text, or decoded JSON) with this provider's key and every secret removed.

        The key is registered first (a key passed as ``api_key=`` may not be), so
        ``scrub`` removes it whole, encoded, or cut to a prefix or suffix.
        """
        try:
            key = self._key()
        except Exception:  # a failing key store must not hide the error being reported
            key = None
        if key:
            register_secret(key)
        return _scrubbed(value)

    def _redacted_event(self, data: str) -> str:
        try:
            decoded = json.loads(data)
        except ValueError:
            return str(self._redacted(data))
        return json.dumps(self._redacted(decoded))

    def _network_error(self, error: httpx2.HTTPError, model_id: str) -> LLMError:
        return ProviderUnavailableError(
            f"could not reach {self.name} at {url_without_credentials(self.base_url)} "
            f"({type(error).__name__})",
            provider=self.name,
            model=model_id,
        )


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, list):
        return [_scrubbed(item) for item in value]
    if isinstance(value, dict):
        return {_scrubbed(k): _scrubbed(v) for k, v in value.items()}
    return value


def default_http_error(
    status: int, message: str, headers: Mapping[str, str], *, body_retry_after: float | None = None
) -> LLMError:
    """The error class for a status, with the provider's message (adapters refine it)."""
    if status in (401, 403):
        return AuthenticationError(f"the provider refused the credentials: {message}")
    if status == 429:
        retry_after = parse_retry_after(headers)
        return RateLimitError(
            f"rate limited: {message}",
            retry_after=retry_after if retry_after is not None else body_retry_after,
        )
    if status >= 500:
        return ProviderUnavailableError(f"the provider failed: {message}", status_code=status)
    return BadRequestError(f"the provider rejected the request: {message}", status_code=status)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    milliseconds = lowered.get("retry-after-ms")
    if milliseconds is not None:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


#: The only line ends of an event stream (WHATWG HTML, "Parsing an event stream").
_SSE_LINE_END = re.compile(r"\r\n|\r|\n")


async def sse_lines(texts: AsyncIterable[str]) -> AsyncIterator[str]:
    """The lines of an event stream's decoded text, split at CR, LF or CRLF only.

    Not ``str.splitlines`` (nor httpx2's ``aiter_lines``, which uses it): that also
    breaks at U+2028, U+2029, U+0085 and other separators, which a model's answer may
    well contain, and cuts the JSON of an event in two. A CR at the end of a chunk
    waits for the next one, which may start with the LF of the same CRLF.
    """
    buffer = ""
    async for text in texts:
        buffer += text
        start = 0
        for match in _SSE_LINE_END.finditer(buffer):
            if match.end() == len(buffer) and match.group() == "\r":
                break
            yield buffer[start : match.start()]
            start = match.end()
        buffer = buffer[start:]
    if buffer:
        yield buffer.removesuffix("\r")


async def _server_sent_events(response: httpx2.Response) -> AsyncIterator[tuple[str | None, str]]:
    """(event, data) pairs of a text/event-stream body, per the WHATWG rules we need."""
    event: str | None = None
    data: list[str] = []
    async for line in sse_lines(response.aiter_text()):
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)


def token_count(value: Any) -> int:
    """A token count from a provider's usage report: 0 when absent.

    A count that is not a whole number >= 0 (negative, fractional, text, ``true``) comes
    back as -1, so the usage stays readable and the layer that settles the bill can see
    it must not be trusted, instead of failing an answer the provider already billed.
    """
    if value is None:
        return 0
    if isinstance(value, bool):
        return -1
    if isinstance(value, int):
        return value if value >= 0 else -1
    if isinstance(value, float) and value.is_integer() and 0 <= value < 2**53:
        return int(value)
    return -1


def token_sum(*counts: int) -> int:
    """The sum of :func:`token_count` results; -1 when any of them is -1."""
    return -1 if any(c < 0 for c in counts) else sum(counts)
