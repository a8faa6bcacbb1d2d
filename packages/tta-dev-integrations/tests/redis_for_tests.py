"""Redis for the fleet tests: the machine's Redis with a key prefix per test, and
throwaway ``redis-server`` processes on free ports that a test may stop or pause.

Imported by name from the primitives' and the integrations' tests (the root
pytest configuration puts this folder on the path).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SHARED_URL = os.environ.get("TTA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _ping(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def shared_redis_url() -> str:
    """The machine's Redis (skips the test, which must be marked needs("redis"), if absent)."""
    from urllib.parse import urlsplit

    parts = urlsplit(SHARED_URL)
    if not _ping(parts.hostname or "127.0.0.1", parts.port or 6379):
        pytest.skip(f"no Redis answers at {parts.hostname}:{parts.port}; start redis-server")
    return SHARED_URL


def unique_prefix() -> str:
    """A key prefix no other test uses."""
    return f"tta-test-{uuid.uuid4().hex[:12]}"


def drop_prefix(url: str, prefix: str) -> None:
    """Delete every key under ``prefix`` (tests clean up after themselves)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """One ``redis-server`` of a test: start, stop (kill), pause (SIGSTOP) and resume."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._workdir = workdir
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start (or restart, on the same port) and wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (Debian package redis-server)")
        self._process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not _ping("127.0.0.1", self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill the server (its data is lost, as after a crash)."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing answers."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after :meth:`pause`."""
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        """Stop for good, even when paused."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)
            self.stop()


@contextmanager
def throwaway_redis() -> Iterator[RedisProcess]:
    """A running ``redis-server`` on a free port, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="tta-redis-") as workdir:
        server = RedisProcess(Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.close()
