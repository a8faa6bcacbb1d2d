"""A JWKS endpoint as a key set: fetched over async HTTP, cached, refreshed sparingly.

Rules, in order of importance:

* at most one fetch per ``cooldown`` seconds, whatever happens: a flood of tokens
  with made-up ``kid`` values cannot turn the verifier into a traffic amplifier
  against the identity provider (concurrent callers share the one fetch);
* an unknown ``kid`` triggers a refresh (rotation: the new key is picked up), and a
  key dropped from the set stops verifying after the refresh that no longer lists it;
* the cache is refreshed when older than ``max_age``, in the background: the stale
  set keeps serving meanwhile, so no request waits on the fetch (only a token with
  an unknown ``kid``, or the very first, waits for one); a failed fetch keeps the
  cached keys, so an outage of the endpoint does not stop verification;
* ``timeout`` is a deadline for the whole fetch, not per read: a server trickling
  a byte a second is cut off after it, like one sending more than 256 KiB;
* keys are only ever fetched from the configured URL, never from a token's header.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tta_dev_integrations.auth.errors import KeySetUnavailableError, UnknownKeyError
from tta_dev_integrations.auth.keys import VerificationKey, key_from_jwk

__all__ = ["JWKSKeySet", "check_key_url"]

if TYPE_CHECKING:
    import httpx

_MAX_JWKS_BYTES = 256 * 1024


class _FetchFailedError(Exception):
    """Internal: why a fetch failed (no secrets in it), for the caller's message."""


def check_key_url(url: str, what: str = "the JWKS URL") -> str:
    """``url`` if it is https, or http to a loopback host (tests); ValueError otherwise."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and _is_loopback(host):
        return url
    raise ValueError(
        f"{what} must be an https:// URL (plain http is allowed only for a loopback "
        f"host such as 127.0.0.1, for tests); got scheme {parts.scheme!r}, host {host!r}"
    )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JWKSKeySet:
    """Verification keys published at a JWKS URL (``/.well-known/jwks.json``)."""

    def __init__(
        self,
        url: str,
        *,
        cooldown: float = 30.0,
        max_age: float = 600.0,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if cooldown < 0 or max_age <= 0 or timeout <= 0:
            raise ValueError("cooldown must be >= 0, max_age and timeout > 0 (seconds)")
        self.url = check_key_url(url)
        self.cooldown = cooldown
        self.max_age = max_age
        self.timeout = timeout
        self._client = client
        self._clock = clock
        self._keys: tuple[VerificationKey, ...] | None = None
        self._fetched_at = 0.0
        self._last_attempt: float | None = None
        self._last_error = ""
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._background: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return (
            f"JWKSKeySet(url={self._safe_url()!r}, cooldown={self.cooldown}, "
            f"max_age={self.max_age})"
        )

    async def candidates(self, key_id: str | None) -> Sequence[VerificationKey]:
        """The published keys for ``key_id`` (all keys when the token has no ``kid``)."""
        keys = await self._current_keys()
        found = _matching(keys, key_id)
        if not found and key_id is not None:
            await self._refresh()
            found = _matching(self._keys or (), key_id)
        if not found:
            raise UnknownKeyError(
                f"no key published at {self._safe_url()} has the token's kid "
                f"(the set was refreshed at most {self.cooldown:g} s ago); "
                "if the provider just rotated keys, retry after the cooldown"
            )
        return found

    async def refresh(self) -> None:
        """Fetch the set now (still at most once per cooldown); failures keep the cache."""
        await self._refresh()

    async def _current_keys(self) -> tuple[VerificationKey, ...]:
        if self._keys is None:
            await self._refresh()
        elif self._clock() - self._fetched_at >= self.max_age:
            self._refresh_in_background()
        if self._keys is None:
            raise KeySetUnavailableError(
                f"could not fetch the signing keys from {self._safe_url()}: {self._last_error}; "
                f"check that the URL is right and reachable (next attempt allowed "
                f"{self.cooldown:g} s after the last)"
            )
        return self._keys

    def _refresh_in_background(self) -> None:
        """Start a refresh that no caller waits for, unless one runs or the cooldown holds."""
        loop = asyncio.get_running_loop()
        running = self._background
        # A task of a loop that has gone (tests, a restarted app) never finishes: ignore it.
        if running is not None and not running.done() and running.get_loop() is loop:
            return
        if self._last_attempt is not None and self._clock() - self._last_attempt < self.cooldown:
            return
        self._background = loop.create_task(self._refresh())

    def _get_lock(self) -> asyncio.Lock:
        # asyncio.Lock binds to the loop it first waits on; a primitive may outlive a
        # loop (tests, or an app that restarts its loop), so keep one lock per loop.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock = asyncio.Lock()
            self._lock_loop = loop
        return self._lock

    async def _refresh(self) -> None:
        async with self._get_lock():
            now = self._clock()
            if self._last_attempt is not None and now - self._last_attempt < self.cooldown:
                return  # someone fetched (or tried) recently: use what we have
            self._last_attempt = now
            try:
                keys = await self._fetch()
            except _FetchFailedError as exc:
                self._last_error = str(exc)
                return
            self._keys = keys
            self._fetched_at = now
            self._last_error = ""

    async def _fetch(self) -> tuple[VerificationKey, ...]:
        import httpx  # here: importing the auth package stays light

        try:
            async with asyncio.timeout(self.timeout):
                if self._client is not None:
                    body = await self._download(self._client)
                else:
                    async with httpx.AsyncClient(
                        timeout=self.timeout, follow_redirects=False
                    ) as client:
                        body = await self._download(client)
        except TimeoutError:
            raise _FetchFailedError(
                f"the fetch did not finish within {self.timeout:g} s (timeout=)"
            ) from None
        return _parse_jwks(body)

    async def _download(self, client: httpx.AsyncClient) -> bytes:
        import httpx

        body = bytearray()
        try:
            async with client.stream(
                "GET", self.url, headers={"Accept": "application/json"}, timeout=self.timeout
            ) as response:
                if response.status_code != 200:
                    raise _FetchFailedError(f"the endpoint answered HTTP {response.status_code}")
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > _MAX_JWKS_BYTES:
                        raise _FetchFailedError(
                            f"the key set is larger than {_MAX_JWKS_BYTES} bytes"
                        )
        except httpx.HTTPError as exc:
            raise _FetchFailedError(f"{type(exc).__name__} while fetching") from exc
        return bytes(body)

    def _safe_url(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _matching(keys: Sequence[VerificationKey], key_id: str | None) -> list[VerificationKey]:
    if key_id is None:
        return list(keys)
    return [k for k in keys if k.key_id == key_id]


def _parse_jwks(body: bytes) -> tuple[VerificationKey, ...]:
    try:
        document: Any = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise _FetchFailedError("the answer is not JSON") from exc
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise _FetchFailedError('the answer is not a JWK set (no "keys" list)')
    keys = [key for entry in entries if isinstance(entry, dict) if (key := key_from_jwk(entry))]
    if not keys:
        raise _FetchFailedError(
            "the set has no usable signing key (RSA >= 2048, EC P-256 or Ed25519, use=sig)"
        )
    return tuple(keys)
