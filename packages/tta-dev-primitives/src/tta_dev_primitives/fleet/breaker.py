"""``RedisBreakerStore``: one circuit breaker per name for every worker of a fleet.

Each breaker is a hash (state, consecutive failures, successes while half-open, when
it opened) and a sorted set of the probes under way (scored by when each probe's
slot expires, so a worker that dies mid-probe frees its slot after
``probe_seconds``). Both scripts use Redis's clock, so workers' clocks do not matter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tta_dev_primitives.recovery.breaker_state import Admission, BreakerPolicy

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tta_dev_primitives.fleet.link import RedisLink

__all__ = ["RedisBreakerStore"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# KEYS: hash, probes. ARGV: call id, reset ms, max probes, probe slot ms, keep ms.
# Returns {state, verdict (0 refused, 1 allowed, 2 probe), retry ms, failures}.
_ADMIT = (
    _NOW
    + """
local state = tonumber(redis.call('HGET', KEYS[1], 'state') or '0')
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if state == 2 then
  local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
  local left = tonumber(ARGV[2]) - (now - opened)
  if left > 0 then return {2, 0, left, failures} end
  state = 1
  redis.call('HSET', KEYS[1], 'state', 1, 'successes', 0)
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
if state == 1 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {1, 0, tonumber(first[2]) - now, failures}
  end
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return {1, 2, 0, failures}
end
return {0, 1, 0, failures}
"""
)

# KEYS: hash, probes. ARGV: call id, outcome, probing (0/1), failure threshold,
# success threshold, keep ms. Returns {state, failures}.
_RECORD = (
    _NOW
    + """
local state = tonumber(redis.call('HGET', KEYS[1], 'state') or '0')
local failures = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
local probing = ARGV[3] == '1'
if probing then redis.call('ZREM', KEYS[2], ARGV[1]) end
if ARGV[2] == 'released' then return {state, failures} end
redis.call('PEXPIRE', KEYS[1], ARGV[6])
if state == 1 then
  if not probing then return {1, failures} end
  if ARGV[2] == 'failure' then
    failures = failures + 1
    redis.call('HSET', KEYS[1], 'state', 2, 'opened_at', now, 'failures', failures)
    return {2, failures}
  end
  local successes = redis.call('HINCRBY', KEYS[1], 'successes', 1)
  if successes >= tonumber(ARGV[5]) then
    redis.call('HSET', KEYS[1], 'state', 0, 'failures', 0, 'successes', 0)
    redis.call('DEL', KEYS[2])
    return {0, 0}
  end
  return {1, failures}
end
if ARGV[2] == 'failure' then
  failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
  if state == 0 and failures >= tonumber(ARGV[4]) then
    redis.call('HSET', KEYS[1], 'state', 2, 'opened_at', now)
    return {2, failures}
  end
  return {state, failures}
end
if state == 0 and failures > 0 then redis.call('HSET', KEYS[1], 'failures', 0) end
return {state, state == 0 and 0 or failures}
"""
)


class RedisBreakerStore:
    """A :class:`~tta_dev_primitives.recovery.breaker_state.BreakerStateStore` in Redis.

    Keys: ``<link prefix>:<namespace>:<breaker name>`` and ``...:probes``; a breaker
    untouched for ``keep_seconds`` is forgotten (it was closed or long expired).
    ``probe_seconds`` bounds how long a half-open probe holds its slot if its worker
    dies. While Redis is unreachable it raises ``SharedStateUnavailableError`` and the
    breaker falls back as configured (``on_unavailable``).
    """

    def __init__(
        self,
        link: RedisLink,
        *,
        namespace: str = "breaker",
        probe_seconds: float = 120.0,
        keep_seconds: float = 86_400.0,
    ) -> None:
        if not probe_seconds > 0 or not keep_seconds > 0:
            raise ValueError("probe_seconds and keep_seconds must be > 0")
        self.link = link
        self.namespace = namespace
        self.probe_ms = max(1, round(probe_seconds * 1000))
        self.keep_ms = max(1, round(keep_seconds * 1000))

    def __repr__(self) -> str:
        return f"RedisBreakerStore({self.link!r}, namespace={self.namespace!r})"

    def _keys(self, name: str) -> list[str]:
        base = self.link.key(self.namespace, name)
        return [base, f"{base}:probes"]

    async def admit(self, name: str, policy: BreakerPolicy, call_id: str) -> Admission:
        """Whether call ``call_id`` may run now; takes a probe slot when half-open."""
        keys = self._keys(name)
        reset_ms = max(0, round(policy.reset_timeout * 1000))
        args: list[str | int] = [
            call_id,
            reset_ms,
            policy.half_open_max_calls,
            self.probe_ms,
            self.keep_ms,
        ]

        async def run(_: Redis) -> list[int]:
            return list(await self.link.script(_ADMIT)(keys=keys, args=args))

        state, verdict, retry_ms, failures = await self.link.run("breaker", run)
        return Admission(int(state), verdict > 0, verdict == 2, retry_ms / 1000.0, int(failures))

    async def record(
        self, name: str, policy: BreakerPolicy, call_id: str, outcome: str, probing: bool
    ) -> tuple[int, int]:
        """Apply a call's outcome for every worker; the new (state, failures)."""
        if outcome not in ("success", "failure", "released"):
            raise ValueError(f"outcome must be success, failure or released, got {outcome!r}")
        keys = self._keys(name)
        args: list[str | int] = [
            call_id, outcome, int(probing), policy.failure_threshold, policy.success_threshold,
            self.keep_ms,
        ]  # fmt: skip

        async def run(_: Redis) -> list[int]:
            return list(await self.link.script(_RECORD)(keys=keys, args=args))

        state, failures = await self.link.run("breaker", run)
        return int(state), int(failures)

    async def reset(self, name: str) -> None:
        """Close the breaker for every worker and forget its failures."""
        keys = self._keys(name)
        await self.link.run("breaker", lambda r: r.delete(*keys))
