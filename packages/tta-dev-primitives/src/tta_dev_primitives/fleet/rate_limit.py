"""``RedisRateLimitBackend``: one set of rate limits for every worker of a fleet.

Why a Lua script of our own rather than the ``limits`` library: a token limit costs
thousands of units per call, and ``limits``' exact (moving-window) Redis strategy
stores one list entry per unit; its approximate ones can let a window exceed the
limit, and it has no fleet-wide pause for a provider's Retry-After. The script below
keeps one sorted-set entry per admitted call (``<id>:<cost>``, scored by Redis's own
clock, so workers' clocks do not matter), checks every limit of the call and takes
all or none, in one round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from tta_dev_primitives.performance.rate_limit import Demand

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tta_dev_primitives.fleet.link import RedisLink

__all__ = ["RedisRateLimitBackend"]

# KEYS[1]: the pause key; KEYS[2..]: one sorted set per limit.
# ARGV[1]: a unique id for this call; then per limit: window (ms), amount, cost.
# Returns 0 when admitted, else the milliseconds until the call would fit.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then return paused - now end
local wait = 0
for i = 2, #KEYS do
  local at = 2 + (i - 2) * 3
  local window, amount, cost = tonumber(ARGV[at]), tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local entries = redis.call('ZRANGE', KEYS[i], 0, -1, 'WITHSCORES')
  local used = 0
  for j = 1, #entries, 2 do
    used = used + tonumber(string.match(entries[j], ':(%d+)$'))
  end
  local excess = used + cost - amount
  local j = 1
  while excess > 0 and j <= #entries do
    excess = excess - tonumber(string.match(entries[j], ':(%d+)$'))
    if excess <= 0 then
      local free_at = tonumber(entries[j + 1]) + window - now
      if free_at > wait then wait = free_at end
    end
    j = j + 2
  end
end
if wait > 0 then return wait end
for i = 2, #KEYS do
  local at = 2 + (i - 2) * 3
  redis.call('ZADD', KEYS[i], now, ARGV[1] .. ':' .. ARGV[at + 2])
  redis.call('PEXPIRE', KEYS[i], ARGV[at])
end
return 0
"""

# KEYS[1]: the pause key; ARGV[1]: milliseconds. Extends a pause, never shortens one.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
if until_ms > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], until_ms, 'PX', ARGV[1])
end
return 0
"""


class RedisRateLimitBackend:
    """A :class:`~tta_dev_primitives.performance.RateLimitBackend` in Redis, shared by a fleet.

    Keys: ``<link prefix>:<namespace>:<key>:<n>`` (one sorted set per limit, expiring
    with its window) and ``...:<key>:pause``. Each check is one script, atomic.
    While Redis is unreachable it raises ``SharedStateUnavailableError`` and the
    primitive falls back as configured (``on_unavailable``).
    """

    def __init__(self, link: RedisLink, *, namespace: str = "rate") -> None:
        self.link = link
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"RedisRateLimitBackend({self.link!r}, namespace={self.namespace!r})"

    async def acquire(self, key: str, demands: Sequence[Demand]) -> float:
        """Take every demand at once (0.0), or return the seconds until they fit."""
        base = self.link.key(self.namespace, key)
        keys = [f"{base}:pause"] + [f"{base}:{n}" for n in range(len(demands))]
        args: list[str | int] = [uuid.uuid4().hex]
        for limit, cost in demands:
            if cost > limit.amount:
                raise ValueError(f"a cost of {cost} can never fit {limit.describe()}")
            args += [max(1, round(limit.per_seconds * 1000)), limit.amount, cost]

        async def run(_: Redis) -> int:
            return int(await self.link.script(_ACQUIRE)(keys=keys, args=args))

        waited_ms = await self.link.run("rate_limit", run)
        return waited_ms / 1000.0

    async def pause(self, key: str, seconds: float) -> None:
        """Admit nothing under ``key`` for ``seconds``, on every worker."""
        pause_key = self.link.key(self.namespace, key, "pause")
        ms = max(1, round(seconds * 1000))

        async def run(_: Redis) -> None:
            await self.link.script(_PAUSE)(keys=[pause_key], args=[ms])

        await self.link.run("rate_limit", run)
