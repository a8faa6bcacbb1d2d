"""Fleet state on Redis: one cache, rate limits and breaker state for every worker.

Needs the ``redis`` extra: ``pip install 'tta-dev-primitives[redis]'``.

Example::

    from tta_dev_primitives import CachePrimitive
    from tta_dev_primitives.fleet import RedisCacheBackend, RedisLink

    link = RedisLink("redis://127.0.0.1:6379/0", prefix="myapp")
    answer = CachePrimitive(ask_model, backend=RedisCacheBackend(link))

Every feature reaches Redis through one :class:`RedisLink` (short timeouts, a
cool-off after a failure, automatic reconnection), and says what it does while Redis
is unreachable: the cache is bypassed; rate limits and breaker state fall back to
per-process state, or fail closed where asked. ``redis`` is imported on first use.
"""

from tta_dev_primitives.fleet.breaker import RedisBreakerStore
from tta_dev_primitives.fleet.cache import RedisCacheBackend
from tta_dev_primitives.fleet.codec import Codec, JsonCodec
from tta_dev_primitives.fleet.link import REDIS_URL_VARIABLE, RedisLink
from tta_dev_primitives.fleet.rate_limit import RedisRateLimitBackend

__all__ = [
    "REDIS_URL_VARIABLE",
    "Codec",
    "JsonCodec",
    "RedisBreakerStore",
    "RedisCacheBackend",
    "RedisLink",
    "RedisRateLimitBackend",
]
