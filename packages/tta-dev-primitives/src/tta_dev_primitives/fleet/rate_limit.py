"""``RedisRateLimitBackend``: one set of rate limits for every worker of a fleet.

Why a Lua script of our own rather than the ``limits`` library: a token limit costs
thousands of units per call, and ``limits``' exact (moving-window) Redis strategy
stores one list entry per unit; its approximate ones can let a window exceed the
limit, and it has no fleet-wide pause for a provider's Retry-After. The script below
keeps one sorted-set entry per admitted call (``<id>:<cost>``, scored by Redis's own
clock, so workers' clocks do not matter) beside a running total, checks every limit
of the call and takes all or none, in one round trip.
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

# KEYS[1]: the pause key; then two keys per limit: its log (a sorted set of
# "<id>:<cost>" scored by admission time) and the running total of the log's costs.
# ARGV[1]: a unique id for this call; then per limit: window (ms), amount, cost.
# Returns 0 when admitted, else the milliseconds until the call would fit.
# Each check costs O(entries leaving the window), not O(entries in it).
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then return paused - now end
local function cost_of(member) return tonumber(string.match(member, ':(%d+)$')) end
local wait = 0
local limits = (#KEYS - 1) / 2
for n = 0, limits - 1 do
  local log, total = KEYS[2 + 2 * n], KEYS[3 + 2 * n]
  local window = tonumber(ARGV[2 + 3 * n])
  local amount, cost = tonumber(ARGV[3 + 3 * n]), tonumber(ARGV[4 + 3 * n])
  local used
  local gone = redis.call('ZRANGEBYSCORE', log, '-inf', now - window)
  if redis.call('ZCARD', log) == #gone then
    used = 0  -- empty (or emptied): start the total afresh
    redis.call('DEL', log, total)
  elseif #gone > 0 then
    local freed = 0
    for _, member in ipairs(gone) do freed = freed + cost_of(member) end
    redis.call('ZREMRANGEBYSCORE', log, '-inf', now - window)
    used = redis.call('DECRBY', total, freed)
  else
    used = tonumber(redis.call('GET', total) or '0')
  end
  local excess = used + cost - amount
  local from = 0
  while excess > 0 do
    local entries = redis.call('ZRANGE', log, from, from + 63, 'WITHSCORES')
    if #entries == 0 then break end
    for j = 1, #entries, 2 do
      excess = excess - cost_of(entries[j])
      if excess <= 0 then
        local free_at = tonumber(entries[j + 1]) + window - now
        if free_at > wait then wait = free_at end
        break
      end
    end
    from = from + 64
  end
end
if wait > 0 then return wait end
for n = 0, limits - 1 do
  local log, total = KEYS[2 + 2 * n], KEYS[3 + 2 * n]
  local window, cost = ARGV[2 + 3 * n], ARGV[4 + 3 * n]
  redis.call('ZADD', log, now, ARGV[1] .. ':' .. cost)
  redis.call('INCRBY', total, cost)
  redis.call('PEXPIRE', log, window)
  redis.call('PEXPIRE', total, window)
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
    with its window), ``...:<n>:total`` beside each, and ``...:<key>:pause``. Each
    check is one script, atomic.
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
        keys = [f"{base}:pause"]
        for n in range(len(demands)):
            keys += [f"{base}:{n}", f"{base}:{n}:total"]
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
