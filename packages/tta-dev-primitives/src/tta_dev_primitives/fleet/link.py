"""``RedisLink``: the fleet's one way to Redis, with short timeouts and a cool-off.

Every fleet feature (cache, rate limits, breaker state) reaches Redis through
:meth:`RedisLink.run`, which decides the failure behaviour in one place:

* each operation is bounded by ``timeout_seconds`` (connect, read and the whole call),
  so a stopped or paused Redis costs a caller at most that long;
* after a failure the link stays "down" for ``retry_interval_seconds``: calls in that
  time fail at once without touching the network (no pile-up of timeouts), then the
  next call tries again, and redis-py reconnects by itself;
* every failure becomes :class:`~tta_dev_primitives.exceptions.SharedStateUnavailableError`,
  counts in ``tta_redis_errors_total``, and the first of an outage (and the recovery)
  is logged as a warning. Each feature then falls back as documented.

The client is made per event loop (redis-py's asyncio connections belong to the loop
that opened them), so one link serves ``asyncio.run`` after ``asyncio.run``.
``redis`` is imported on first use: ``pip install 'tta-dev-primitives[redis]'``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from tta_dev_primitives.exceptions import SharedStateUnavailableError
from tta_dev_primitives.observability.metrics import counter
from tta_dev_primitives.performance.telemetry import REDIS_ERRORS, annotate

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

__all__ = ["REDIS_URL_VARIABLE", "RedisLink"]

#: The environment variable that names the fleet's Redis (``redis://host:port/db``).
REDIS_URL_VARIABLE = "TTA_REDIS_URL"

T = TypeVar("T")

#: Error replies that mean "Redis cannot serve this now" (full, loading, a replica
#: after failover, a busy script), not "this command is wrong".
_UNAVAILABLE_CODES = frozenset(
    {"BUSY", "LOADING", "OOM", "READONLY", "MASTERDOWN", "NOREPLICAS", "CLUSTERDOWN", "TRYAGAIN"}
)

logger = logging.getLogger("tta_dev_primitives.fleet")


def _public_address(url: str) -> str:
    """``host:port/db`` of a Redis URL: never the user name or password."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    database = parts.path.lstrip("/") or "0"
    return f"{host}:{parts.port or 6379}/{database}"


class RedisLink:
    """A connection to the fleet's Redis shared by the cache, rate-limit and breaker backends.

    ``prefix`` starts every key (one per application, so several share a Redis);
    ``timeout_seconds`` bounds each operation; after a failure Redis is not tried
    again for ``retry_interval_seconds``. ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "tta",
        timeout_seconds: float = 0.25,
        retry_interval_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                "url must be a Redis URL (redis://host:port/db, rediss://... or unix://...), "
                f"got one starting {url.split(':', 1)[0]!r}"
            )
        if not timeout_seconds > 0:
            raise ValueError(f"timeout_seconds must be > 0, got {timeout_seconds!r}")
        if not retry_interval_seconds >= 0:
            raise ValueError(f"retry_interval_seconds must be >= 0, got {retry_interval_seconds!r}")
        if not prefix or any(c.isspace() for c in prefix):
            raise ValueError(f"prefix must be a non-empty word, got {prefix!r}")
        self._url = url
        self.address = _public_address(url)
        self.prefix = prefix
        self.timeout_seconds = timeout_seconds
        self.retry_interval_seconds = retry_interval_seconds
        self._clock = clock
        self._down_until = 0.0
        self._down = False
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = (
            weakref.WeakKeyDictionary()
        )
        self._scripts: weakref.WeakKeyDictionary[Redis, dict[str, AsyncScript]] = (
            weakref.WeakKeyDictionary()
        )
        self._errors = {
            feature: counter(REDIS_ERRORS).labels(feature)
            for feature in ("cache", "rate_limit", "breaker")
        }

    @classmethod
    def from_env(cls, *, prefix: str = "tta", **options: Any) -> RedisLink | None:
        """A link to ``$TTA_REDIS_URL``, or ``None`` when the variable is not set."""
        url = os.environ.get(REDIS_URL_VARIABLE, "").strip()
        return cls(url, prefix=prefix, **options) if url else None

    def __repr__(self) -> str:
        return f"RedisLink({self.address!r}, prefix={self.prefix!r})"

    @property
    def available(self) -> bool:
        """False while the link is cooling off after a failure."""
        return self._down_until <= self._clock()

    def key(self, *parts: str) -> str:
        """A key under this link's prefix: ``prefix:part:part``."""
        return ":".join((self.prefix, *parts))

    def client(self) -> Redis:
        """The redis-py asyncio client of the running event loop."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            client = Redis.from_url(
                self._url,
                socket_timeout=self.timeout_seconds,
                socket_connect_timeout=self.timeout_seconds,
                # No retries inside redis-py: the cool-off decides when to try again,
                # and a retry would multiply the time a caller may wait.
                retry=Retry(NoBackoff(), 0),
                health_check_interval=30,
            )
            self._clients[loop] = client
        return client

    def script(self, source: str) -> AsyncScript:
        """``source`` as a Lua script of the running loop's client (EVALSHA, loaded on demand)."""
        client = self.client()
        scripts = self._scripts.setdefault(client, {})
        found = scripts.get(source)
        if found is None:
            found = scripts[source] = client.register_script(source)
        return found

    async def run(self, feature: str, operation: Callable[[Redis], Awaitable[T]]) -> T:
        """Run ``operation(client)`` within the timeout; map every failure to ours.

        Raises :class:`SharedStateUnavailableError` at once while cooling off.
        """
        if self._down_until > self._clock():
            raise SharedStateUnavailableError(feature, self.address, "failed moments ago")
        from redis.exceptions import (
            NoScriptError,
            OutOfMemoryError,
            ReadOnlyError,
            RedisError,
            ResponseError,
        )

        try:
            async with asyncio.timeout(self.timeout_seconds * 2):
                result = await operation(self.client())
        except (ResponseError, NoScriptError) as error:
            if isinstance(error, OutOfMemoryError | ReadOnlyError):
                reason = type(error).__name__
            else:
                reason = str(error).split(" ", 1)[0]
                if reason not in _UNAVAILABLE_CODES:
                    raise  # a bug in a command or script: surface it, not an outage
            self._failed(feature, error)
            raise SharedStateUnavailableError(feature, self.address, reason) from None
        except (RedisError, OSError, TimeoutError) as error:
            self._failed(feature, error)
            raise SharedStateUnavailableError(feature, self.address, type(error).__name__) from None
        if self._down:
            self._down = False
            logger.warning("Redis at %s answers again; fleet state is shared again", self.address)
        return result

    def _failed(self, feature: str, error: BaseException) -> None:
        self._down_until = self._clock() + self.retry_interval_seconds
        self._errors[feature].inc()
        annotate({"tta.redis.error": type(error).__name__, "tta.redis.feature": feature})
        if not self._down:
            self._down = True
            logger.warning(
                "Redis at %s is unavailable (%s); falling back as documented for %s "
                "until it answers again",
                self.address,
                type(error).__name__,
                feature,
            )

    async def aclose(self) -> None:
        """Close the running loop's client (others close with their loop)."""
        loop = asyncio.get_running_loop()
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()
