"""An example TTA.dev service for the observability stack in ``deploy/compose.yaml``.

It runs a small workflow in a loop: a cached lookup, a flaky call under retry and a
circuit breaker, a fallback, and a timeout. Telemetry is configured by one
``setup()`` call from the standard environment variables the compose file sets
(``OTEL_TRACES_EXPORTER=otlp``, ``OTEL_EXPORTER_OTLP_ENDPOINT``, ``TTA_METRICS_PORT``),
so spans go to Jaeger and Prometheus scrapes ``/metrics``. With ``TTA_REDIS_URL`` set
(``compose.fleet.yaml``) the cache and the breaker live in Redis, shared by every
replica.

Run it locally with ``python deploy/example-app/app.py --iterations 20`` (spans then
go to ``$TTA_HOME/traces/spans.jsonl``).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
from typing import Any

from tta_dev_primitives import (
    CachePrimitive,
    CircuitBreakerPrimitive,
    FallbackPrimitive,
    LambdaPrimitive,
    RetryPrimitive,
    SequentialPrimitive,
    TimeoutPrimitive,
    WorkflowContext,
    WorkflowPrimitive,
)
from tta_dev_primitives.observability import setup

logger = logging.getLogger("example_app")
ORDERS = ("books", "games", "tools", "music")


async def look_up_catalogue(order: str) -> dict[str, str]:
    """A slowish read that the cache absorbs."""
    await asyncio.sleep(0.02)
    return {"order": order, "section": order.upper()}


async def price(item: dict[str, str]) -> dict[str, str]:
    """An upstream call that fails now and then."""
    await asyncio.sleep(random.uniform(0.001, 0.03))
    if random.random() < 0.2:
        raise ConnectionError("pricing service unavailable")
    return {**item, "price": f"{random.uniform(5, 50):.2f}"}


async def list_price(item: dict[str, str]) -> dict[str, str]:
    """The fallback: a static price list."""
    return {**item, "price": "9.99"}


async def confirm(item: dict[str, str]) -> dict[str, str]:
    """A final step that logs with the trace and correlation ids."""
    await asyncio.sleep(random.uniform(0.001, 0.01))
    logger.info("confirmed %s at %s", item["order"], item["price"])
    return item


def fleet_options() -> tuple[dict[str, Any], dict[str, Any]]:
    """Options of the cache and of the breaker: Redis-backed when TTA_REDIS_URL is set."""
    from tta_dev_primitives.fleet import RedisBreakerStore, RedisCacheBackend, RedisLink

    link = RedisLink.from_env(prefix="tta-example")
    if link is None:
        return {}, {}
    return {"backend": RedisCacheBackend(link)}, {"state_store": RedisBreakerStore(link)}


def build_workflow() -> WorkflowPrimitive[str, dict[str, str]]:
    """The workflow every iteration runs."""
    cache_options, breaker_options = fleet_options()
    pricing = CircuitBreakerPrimitive(
        RetryPrimitive(LambdaPrimitive(price, name="price"), max_attempts=2, initial_delay=0.01),
        failure_threshold=5,
        reset_timeout=10,
        name="pricing_breaker",
        **breaker_options,
    )
    return SequentialPrimitive(
        [
            CachePrimitive(
                LambdaPrimitive(look_up_catalogue, name="catalogue"),
                ttl_seconds=5,
                **cache_options,
            ),
            FallbackPrimitive(pricing, [LambdaPrimitive(list_price, name="list_price")]),
            TimeoutPrimitive(LambdaPrimitive(confirm, name="confirm"), 1.0),
        ],
        name="order_workflow",
    )


async def run(iterations: int | None, pause: float) -> None:
    """Run the workflow ``iterations`` times (forever when ``None``)."""
    workflow = build_workflow()
    done = 0
    while iterations is None or done < iterations:
        order = random.choice(ORDERS)
        await workflow.execute(order, WorkflowContext(workflow_id="order"))
        done += 1
        await asyncio.sleep(pause)


def main() -> None:
    """Configure telemetry from the environment and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=None, help="Stop after N runs.")
    parser.add_argument("--pause", type=float, default=0.2, help="Seconds between runs.")
    args = parser.parse_args()
    handle = setup(service_name="tta-example", log_format="json")
    if handle.metrics_server is not None:
        logger.info("metrics at %s", handle.metrics_server.url)
    asyncio.run(run(args.iterations, args.pause))
    handle.shutdown()


if __name__ == "__main__":
    main()
