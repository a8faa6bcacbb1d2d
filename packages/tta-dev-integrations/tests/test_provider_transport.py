"""What the providers' HTTP transport must keep, whichever client library carries it.

Every test talks to real loopback sockets: an HTTP proxy named by ``HTTP_PROXY`` (and
skipped for ``NO_PROXY`` hosts), HTTPS through a CONNECT tunnel named by
``HTTPS_PROXY`` to a TLS server whose CA comes from ``SSL_CERT_FILE``, one pooled
connection for sequential calls, connect and read timeouts that become the layer's
errors, streams cut in the middle of a chunk, a proxy that echoes the key, and an
import of the LLM layer that loads no HTTP client at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from replay_server import ReplayServer, Reply
from throwaway_pki import make_pki
from tta_dev_integrations.llm import (
    LLMPrimitive,
    ProviderUnavailableError,
    StreamInterruptedError,
    create_provider,
)
from tta_dev_integrations.llm.providers.base import HTTPProvider
from tta_dev_integrations.llm.types import LLMRequest
from tta_dev_primitives import WorkflowContext

KEY = "sk-proj-transport-canary-7e3a91c0d2"
ANSWER = {
    "model": "gpt-4o-mini",
    "choices": [{"message": {"content": "via proxy"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}
PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


def _chunk(event: Mapping[str, object] | str) -> bytes:
    """One SSE event as one HTTP chunk."""
    data = event if isinstance(event, str) else json.dumps(event)
    body = f"data: {data}\n\n".encode()
    return f"{len(body):x}\r\n".encode() + body + b"\r\n"


def _delta(text: str) -> dict[str, object]:
    return {"model": "m", "choices": [{"delta": {"content": text}, "finish_reason": None}]}


STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


@dataclass
class RawServer:
    """An asyncio server on 127.0.0.1 whose answers are written by hand, byte by byte.

    ``lines`` has the request line of every request; ``connections`` counts accepted
    connections; ``heads`` has each request's lower-cased headers.
    """

    answer: Callable[[RawServer, str, dict[str, str], asyncio.StreamWriter], Awaitable[bool]]
    lines: list[str] = field(default_factory=list)
    heads: list[dict[str, str]] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                line, *rest = head.decode("latin-1").split("\r\n")
                headers = {}
                for item in rest:
                    name, sep, value = item.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if length:
                    await reader.readexactly(length)
                self.lines.append(line)
                self.heads.append(headers)
                if not await self.answer(self, line, headers, writer):
                    return
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()


@contextlib.asynccontextmanager
async def raw_server(
    answer: Callable[[RawServer, str, dict[str, str], asyncio.StreamWriter], Awaitable[bool]],
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[RawServer]:
    state = RawServer(answer)
    server = await asyncio.start_server(state.serve, "127.0.0.1", 0, ssl=tls)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1)


async def _canned_answer(
    server: RawServer, line: str, headers: dict[str, str], writer: asyncio.StreamWriter
) -> bool:
    """A proxy that serves plain-HTTP requests itself and refuses CONNECT tunnels."""
    if line.startswith("CONNECT "):
        writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        return False
    body = json.dumps(ANSWER).encode()
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    return True


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The environment with no proxy variable set, in either case."""
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # urllib ignores HTTP_PROXY in CGI
    return monkeypatch


@contextlib.contextmanager
def _closed_port() -> Iterator[str]:
    """A loopback port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield f"127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def provider_at(base_url: str, **options: object) -> AsyncIterator[HTTPProvider]:
    provider = create_provider("openai", base_url=base_url, api_key=KEY, **options)
    assert isinstance(provider, HTTPProvider)
    try:
        yield provider
    finally:
        await provider.aclose()


def request() -> LLMRequest:
    return LLMRequest.from_value("hi")


async def read_into(seen: list[str], pieces: AsyncIterator[Any]) -> None:
    """Read a stream to its end (or its error), keeping each text as it arrives."""
    async for piece in pieces:
        seen.append(piece if isinstance(piece, str) else piece.text)  # noqa: PERF401 - kept on error


# -- proxies from the environment ---------------------------------------------------


async def test_http_proxy_from_the_environment_carries_the_calls(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    async with raw_server(_canned_answer) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        with _closed_port() as origin:  # nothing listens there: only the proxy can answer
            async with provider_at(f"http://{origin}/v1") as provider:
                replies = [await provider.complete(request(), "gpt-4o-mini") for _ in range(3)]
    assert [r.content for r in replies] == ["via proxy"] * 3
    # The proxy got absolute-form requests for the origin, over one kept-alive connection.
    assert proxy.lines == [f"POST http://{origin}/v1/chat/completions HTTP/1.1"] * 3
    assert proxy.connections == 1
    assert proxy.heads[0]["authorization"] == f"Bearer {KEY}"


async def test_https_proxy_from_the_environment_is_asked_for_a_tunnel(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    async with raw_server(_canned_answer) as proxy:
        no_proxy_env.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
        with _closed_port() as origin:
            async with provider_at(f"https://{origin}/v1") as provider:
                with pytest.raises(ProviderUnavailableError, match="ProxyError") as caught:
                    await provider.complete(request(), "gpt-4o-mini")
    assert proxy.lines == [f"CONNECT {origin} HTTP/1.1"]
    assert "authorization" not in proxy.heads[0]  # the key only travels inside the tunnel
    assert KEY not in str(caught.value)


async def test_no_proxy_hosts_are_reached_directly(no_proxy_env: pytest.MonkeyPatch) -> None:
    async with raw_server(_canned_answer) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        no_proxy_env.setenv("NO_PROXY", "localhost,127.0.0.1")
        with ReplayServer() as origin:
            origin.add("/chat/completions", Reply.json({**ANSWER, "choices": [
                {"message": {"content": "direct"}, "finish_reason": "stop"}]}))  # fmt: skip
            async with provider_at(origin.url) as provider:
                reply = await provider.complete(request(), "gpt-4o-mini")
    assert reply.content == "direct"
    assert proxy.lines == []


async def test_a_key_echoed_by_a_proxy_is_scrubbed(no_proxy_env: pytest.MonkeyPatch) -> None:
    async def echo_refusal(
        server: RawServer, line: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> bool:
        page = f"<h1>407</h1> proxy refused credentials {headers['authorization']}".encode()
        writer.write(
            b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-type: text/html\r\n"
            + f"content-length: {len(page)}\r\n\r\n".encode()
            + page
        )
        await writer.drain()
        return True

    async with raw_server(echo_refusal) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        with _closed_port() as origin:
            async with provider_at(f"http://{origin}/v1") as provider:
                with pytest.raises(Exception) as caught:  # noqa: PT011 - the class is the adapter's
                    await provider.complete(request(), "gpt-4o-mini")
    assert proxy.lines, "the request did not reach the proxy"
    assert "proxy refused credentials" in str(caught.value)
    assert KEY not in str(caught.value)
    assert KEY not in repr(caught.value)


@dataclass
class Certificates:
    """A throw-away CA (its PEM file) and a server context with a cert it signed."""

    ca_file: str
    server: ssl.SSLContext


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    pki = make_pki(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(pki.server_cert, pki.server_key)
    return Certificates(str(pki.ca), server)


@dataclass
class Tunnels:
    """What a CONNECT proxy was asked for."""

    lines: list[str] = field(default_factory=list)
    port: int = 0


@contextlib.asynccontextmanager
async def tunnelling_proxy() -> AsyncIterator[Tunnels]:
    """An HTTP proxy that opens CONNECT tunnels (and refuses anything else)."""
    tunnels = Tunnels()

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        with contextlib.suppress(ConnectionError, OSError):
            sink.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line = head.decode("latin-1").split("\r\n", 1)[0]
        tunnels.lines.append(line)
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
            writer.close()
            return
        host, _, port = target.rpartition(":")
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    tunnels.port = server.sockets[0].getsockname()[1]
    try:
        yield tunnels
    finally:
        server.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 1)


async def test_https_through_a_proxy_tunnel_from_the_environment(
    no_proxy_env: pytest.MonkeyPatch, certificates: Certificates
) -> None:
    no_proxy_env.setenv("SSL_CERT_FILE", certificates.ca_file)
    async with (
        raw_server(_canned_answer, tls=certificates.server) as origin,
        tunnelling_proxy() as proxy,
    ):
        no_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        async with provider_at(f"https://127.0.0.1:{origin.port}/v1") as provider:
            replies = [await provider.complete(request(), "m") for _ in range(3)]
    assert [r.content for r in replies] == ["via proxy"] * 3
    assert proxy.lines == [f"CONNECT 127.0.0.1:{origin.port} HTTP/1.1"]  # one tunnel, kept
    assert origin.lines == ["POST /v1/chat/completions HTTP/1.1"] * 3
    assert origin.heads[0]["authorization"] == f"Bearer {KEY}"  # inside the tunnel only


async def test_ssl_cert_file_from_the_environment_is_trusted(
    no_proxy_env: pytest.MonkeyPatch, certificates: Certificates
) -> None:
    no_proxy_env.delenv("SSL_CERT_FILE", raising=False)
    no_proxy_env.delenv("SSL_CERT_DIR", raising=False)
    async with raw_server(_canned_answer, tls=certificates.server) as origin:
        base_url = f"https://127.0.0.1:{origin.port}/v1"
        async with provider_at(base_url) as provider:
            with pytest.raises(ProviderUnavailableError, match="ConnectError"):
                await provider.complete(request(), "m")  # a CA nobody trusts
        no_proxy_env.setenv("SSL_CERT_FILE", certificates.ca_file)
        async with provider_at(base_url) as provider:
            assert (await provider.complete(request(), "m")).content == "via proxy"


# -- the pool ------------------------------------------------------------------------


async def test_sequential_calls_share_one_connection(no_proxy_env: pytest.MonkeyPatch) -> None:
    with ReplayServer() as server:
        server.respond("/chat/completions", lambda r: Reply.json(ANSWER))
        async with provider_at(server.url) as provider:
            for _ in range(5):
                assert (await provider.complete(request(), "m")).content == "via proxy"
            # Errors answered by the server keep the connection too.
            server.add("/chat/completions", Reply.json({"error": {"message": "no"}}, status=400))
            with pytest.raises(Exception):  # noqa: PT011,B017 - any LLMError; the port matters
                await provider.complete(request(), "m")
            await provider.complete(request(), "m")
    assert len(server.requests) == 7
    assert len({r.client_port for r in server.requests}) == 1


async def test_concurrent_calls_are_served_by_the_pool_then_reused(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    with ReplayServer() as server:
        server.respond("/chat/completions", lambda r: Reply.json(ANSWER))
        async with provider_at(server.url) as provider:
            await asyncio.gather(*[provider.complete(request(), "m") for _ in range(8)])
            burst = {r.client_port for r in server.requests}
            for _ in range(4):
                await provider.complete(request(), "m")
    later = {r.client_port for r in server.requests[8:]}
    assert later <= burst, "sequential calls after a burst opened new connections"


# -- timeouts ------------------------------------------------------------------------


async def test_a_connect_timeout_is_a_provider_unavailable_error(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    # A listening socket whose accept queue is full: the kernel drops further SYNs, so
    # connecting hangs (what an unreachable host looks like) instead of being refused.
    with socket.socket() as listener, socket.socket() as filler:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        filler.connect(("127.0.0.1", port))
        async with provider_at(f"http://127.0.0.1:{port}/v1", connect_timeout=0.3) as provider:
            start = time.monotonic()
            with pytest.raises(ProviderUnavailableError, match="ConnectTimeout") as caught:
                await provider.complete(request(), "m")
            elapsed = time.monotonic() - start
    assert elapsed < 5, f"the 0.3 s connect timeout took {elapsed:.1f} s"
    assert caught.value.provider == "openai"
    assert f"127.0.0.1:{port}" in str(caught.value)


def _stall_after(
    prefix: bytes,
) -> Callable[[RawServer, str, dict[str, str], asyncio.StreamWriter], Awaitable[bool]]:
    async def answer(
        server: RawServer, line: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(prefix)
        await writer.drain()
        await asyncio.sleep(30)  # cancelled when the server closes
        return False

    return answer


async def test_a_read_timeout_is_a_provider_unavailable_error(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    async with (
        raw_server(_stall_after(b"")) as server,
        provider_at(f"http://127.0.0.1:{server.port}/v1", timeout=0.3) as provider,
    ):
        start = time.monotonic()
        with pytest.raises(ProviderUnavailableError, match="ReadTimeout"):
            await provider.complete(request(), "m")
    assert time.monotonic() - start < 5


async def test_a_stream_that_stalls_mid_answer_keeps_its_partial_text(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    stalled = STREAM_HEAD + _chunk(_delta("Hel")) + _chunk(_delta("lo"))
    async with (
        raw_server(_stall_after(stalled)) as server,
        provider_at(f"http://127.0.0.1:{server.port}/v1", timeout=0.3) as provider,
    ):
        stream = LLMPrimitive("gpt-4o-mini", provider=provider).stream("hi", WorkflowContext())
        seen: list[str] = []
        with pytest.raises(StreamInterruptedError, match="ReadTimeout") as caught:
            await read_into(seen, aiter(stream))
    assert seen == ["Hel", "lo"]
    assert caught.value.partial_text == "Hello"
    assert stream.partial_text == "Hello"


# -- streams cut off -----------------------------------------------------------------


def _cut_after(
    prefix: bytes,
) -> Callable[[RawServer, str, dict[str, str], asyncio.StreamWriter], Awaitable[bool]]:
    async def answer(
        server: RawServer, line: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(prefix)
        await writer.drain()
        writer.transport.abort()
        return False

    return answer


async def test_a_stream_cut_inside_a_chunk_keeps_its_partial_text(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    # A chunk announced as 0x64 bytes, of which 10 arrive before the connection drops.
    cut = STREAM_HEAD + _chunk(_delta("Hello")) + _chunk(_delta(", wor")) + b'64\r\ndata: {"ch'
    async with (
        raw_server(_cut_after(cut)) as server,
        provider_at(f"http://127.0.0.1:{server.port}/v1") as provider,
    ):
        seen: list[str] = []
        with pytest.raises(StreamInterruptedError, match="broke off") as caught:
            await read_into(seen, provider.stream(request(), "m"))
    assert "".join(seen) == "Hello, wor"
    assert caught.value.partial_text == "Hello, wor"
    assert caught.value.provider == "openai"


async def test_a_connection_dropped_before_any_text_is_a_provider_unavailable_error(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    async with (
        raw_server(_cut_after(STREAM_HEAD[:20])) as server,
        provider_at(f"http://127.0.0.1:{server.port}/v1") as provider,
    ):
        with pytest.raises(ProviderUnavailableError, match=r"RemoteProtocolError|ReadError"):
            await read_into([], provider.stream(request(), "m"))


async def test_a_stream_closed_properly_without_its_end_is_interrupted(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    body = STREAM_HEAD + _chunk(_delta("Hi")) + b"0\r\n\r\n"  # no [DONE], no finish reason
    async with (
        raw_server(_cut_after(body)) as server,
        provider_at(f"http://127.0.0.1:{server.port}/v1") as provider,
    ):
        with pytest.raises(StreamInterruptedError, match="before the provider said") as caught:
            await read_into([], provider.stream(request(), "m"))
    assert caught.value.partial_text == "Hi"


async def test_a_complete_stream_after_a_cut_one_connects_again(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    end = {"model": "m", "choices": [{"delta": {}, "finish_reason": "stop"}]}
    whole = STREAM_HEAD + _chunk(_delta("ok")) + _chunk(end) + _chunk("[DONE]") + b"0\r\n\r\n"
    answers = [STREAM_HEAD + _chunk(_delta("x")) + b"64\r\n", whole]

    async def answer(
        server: RawServer, line: str, headers: dict[str, str], writer: asyncio.StreamWriter
    ) -> bool:
        writer.write(answers.pop(0))
        await writer.drain()
        if answers:
            writer.transport.abort()
            return False
        return True

    async with (
        raw_server(answer) as server,
        provider_at(f"http://127.0.0.1:{server.port}/v1") as provider,
    ):
        with pytest.raises(StreamInterruptedError):
            await read_into([], provider.stream(request(), "m"))
        texts = [piece.text async for piece in provider.stream(request(), "m")]
    assert "".join(texts) == "ok"
    assert server.connections == 2  # the broken connection was not handed out again


# -- import cost ---------------------------------------------------------------------


def test_importing_the_llm_layer_loads_no_http_client() -> None:
    code = (
        "import sys, tta_dev_integrations.llm, tta_dev_integrations.llm.providers.base\n"
        "loaded = sorted(m for m in ('httpx', 'httpx2', 'httpcore', 'httpcore2')"
        " if m in sys.modules)\n"
        "print(','.join(loaded))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "", f"importing the LLM layer loaded {out.stdout.strip()}"
