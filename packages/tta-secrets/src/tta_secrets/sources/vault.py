"""``VaultSource``: fields of a Vault KV v2 secret, cached for a TTL.

A plain name ``OPENAI_API_KEY`` is the field of that name in the secret at
``{mount}/{path}`` (default ``secret/tta``); ``sub/dir#FIELD`` is field ``FIELD``
of the secret at ``{mount}/{path}/sub/dir``. A secret is fetched whole and kept
for ``ttl_s`` seconds, so looking up every provider's key costs one request.

A path that does not exist (or whose latest version is deleted) raises
:class:`~tta_secrets.errors.VaultPathNotFoundError`, and that answer is cached
like a value (the loader reads it as "not here"). A sealed, refusing or
unreachable server raises, and a value whose TTL is over is not served again
until Vault answers (fail closed). That failure is remembered for
``error_ttl_s`` (2 s), so a burst of lookups (a report over every provider, a
routing decision) pays for one failed round trip with its retries, not one each.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from tta_secrets.errors import VaultError, VaultPathNotFoundError
from tta_secrets.sources.base import SecretSource
from tta_secrets.sources.vault_client import KVVersion, VaultClient

__all__ = ["VaultSource"]


class VaultSource(SecretSource):
    """Secrets from Vault KV v2 (or OpenBao), with a TTL cache per secret path.

    Give ``client``, or the connection options of :class:`VaultClient` (``token`` or
    ``role_id``/``secret_id``, ``namespace``, ``timeout_s``, ``retries``, ...).
    """

    def __init__(
        self,
        addr: str = "",
        *,
        mount: str = "secret",
        path: str = "tta",
        ttl_s: float = 300.0,
        error_ttl_s: float = 2.0,
        client: VaultClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        **client_options: Any,
    ) -> None:
        if client is None:
            if not addr:
                raise ValueError("VaultSource needs addr (VAULT_ADDR) or a client")
            client = VaultClient(addr, clock=clock, **client_options)
        elif client_options or addr:
            raise ValueError("give VaultSource either a client or its connection options")
        self.client = client
        self.mount = mount.strip("/")
        self.path = path.strip("/")
        self.ttl_s = ttl_s
        self.error_ttl_s = error_ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, KVVersion | VaultError]] = {}

    @property
    def label(self) -> str:
        """``vault:{mount}/{path}``."""
        return f"vault:{self.mount}/{self.path}"

    def __repr__(self) -> str:
        addr = self.client.shown_addr
        return f"VaultSource({addr!r}, mount={self.mount!r}, path={self.path!r})"

    def _split(self, name: str) -> tuple[str, str]:
        if "#" in name:
            sub, _, field = name.rpartition("#")
            return f"{self.path}/{sub.strip('/')}" if self.path else sub.strip("/"), field
        return self.path, name

    def where(self, name: str) -> str:
        """``vault:{mount}/{path}#FIELD``."""
        path, field = self._split(name)
        return f"vault:{self.mount}/{path}#{field}"

    def lookup(self, name: str) -> str | None:
        """The field's value; ``None`` if the secret has no such field (or it is empty)."""
        path, field = self._split(name)
        return self.read(path).data.get(field) or None

    def read(self, path: str | None = None) -> KVVersion:
        """The latest version of the secret at ``path`` (default: this source's), cached."""
        path = self.path if path is None else path
        now = self._clock()
        with self._lock:
            cached = self._cache.get(path)
            if cached is None or now >= cached[0]:
                result: KVVersion | VaultError
                try:
                    result = self.client.read(self.mount, path)
                    expires = now + self.ttl_s
                except VaultPathNotFoundError as error:
                    result, expires = error, now + self.ttl_s
                except VaultError as error:
                    result, expires = error, now + self.error_ttl_s
                cached = (expires, result)
                self._cache[path] = cached
        if isinstance(cached[1], VaultError):
            raise cached[1].with_traceback(None)
        return cached[1]

    def read_version(self, version: int, path: str | None = None) -> KVVersion:
        """A given version of the secret at ``path`` (not cached)."""
        return self.client.read(self.mount, self.path if path is None else path, version)

    def write(
        self, data: Mapping[str, str], *, path: str | None = None, cas: int | None = None
    ) -> int:
        """Write a new version (see :meth:`VaultClient.write`); forgets the cached one."""
        path = self.path if path is None else path
        version = self.client.write(self.mount, path, data, cas=cas)
        self.invalidate(path)
        return version

    def invalidate(self, path: str | None = None) -> None:
        """Forget the cached secret at ``path`` (or every cached secret)."""
        with self._lock:
            if path is None:
                self._cache.clear()
            else:
                self._cache.pop(path, None)

    def close(self) -> None:
        """Close the client's connection pool."""
        self.client.close()
