"""One worker process of the fleet test: LLM calls as a deployed worker makes them.

Run as ``python fleet_worker.py SETTINGS_JSON``; the fleet settings come from the
environment (``TTA_REDIS_URL``, ``TTA_REDIS_PREFIX``, ...), exactly as in production.
It reads one JSON command a line on stdin and answers one JSON line on stdout:

``{"op": "ask", "model": ALIAS, "prompts": [...], "cached": bool, "concurrent": bool}``
    make the calls (through a Redis-backed ``CachePrimitive`` when ``cached``) and report
    how they ended, the slowest call, and this process's fleet metrics;
``{"op": "spend", "prompts": [...], "limit": USD}``
    the same calls through ``UniversalLLMPrimitive`` (unlimited profile, the paid model
    first, the free one when the money is gone) on the shared PostgreSQL ledger,
    concurrently; reports the models that answered and the budget alerts this
    process fired;
``{"op": "quit"}``
    close everything and exit.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from tta_dev_integrations.llm import (
    LLMPrimitive,
    ProviderUnavailableError,
    RateLimitError,
    create_provider,
    load_catalog,
)
from tta_dev_integrations.llm.budget.postgres import PostgresLedger
from tta_dev_integrations.llm.cache_codec import LLM_RESPONSE_CODEC
from tta_dev_integrations.llm.fleet import fleet_limits
from tta_dev_integrations.llm.universal import BudgetAlert, UniversalLLMPrimitive
from tta_dev_primitives import CachePrimitive, WorkflowContext, WorkflowPrimitive
from tta_dev_primitives.fleet import RedisCacheBackend, RedisLink
from tta_dev_primitives.testing import metric_value

METRICS = {
    "redis_errors": ("tta_redis_errors_total", "feature"),
    "local_fallbacks": ("tta_fleet_local_fallbacks_total", "feature"),
}


class Worker:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.catalog = load_catalog(settings["catalog"])
        self.providers = {
            "openai": create_provider("openai", base_url=settings["url"], api_key="sk-fleet"),
            "ollama": create_provider("ollama", base_url=settings["flaky_url"]),
        }
        self.link = RedisLink.from_env(prefix=settings["prefix"], timeout_seconds=0.25)
        assert self.link is not None, "TTA_REDIS_URL must be set for a fleet worker"
        self.llms: dict[str, WorkflowPrimitive[Any, Any]] = {}
        self.cached: dict[str, WorkflowPrimitive[Any, Any]] = {}
        self.ledger = PostgresLedger(settings["ledger_url"], max_size=4)
        self.alerts: list[float] = []
        self.universal: UniversalLLMPrimitive | None = None

    def llm(self, alias: str, cached: bool) -> WorkflowPrimitive[Any, Any]:
        if alias not in self.llms:
            info = self.catalog[alias]
            self.llms[alias] = LLMPrimitive(
                alias, catalog=self.catalog, provider=self.providers[info.provider]
            )
            assert self.link is not None
            backend = RedisCacheBackend(self.link, codec=LLM_RESPONSE_CODEC)
            self.cached[alias] = CachePrimitive(
                self.llms[alias], backend=backend, name=f"cache({alias})"
            )
        return self.cached[alias] if cached else self.llms[alias]

    async def ask(self, command: dict[str, Any]) -> dict[str, Any]:
        llm = self.llm(command["model"], command.get("cached", False))
        outcome: dict[str, Any] = {"ok": 0, "rate_limited": 0, "unavailable": 0, "other": []}
        answers: dict[str, str] = {}
        slowest = 0.0

        async def one(prompt: str) -> None:
            nonlocal slowest
            start = time.monotonic()
            try:
                response = await llm.execute(
                    {"prompt": prompt, "max_tokens": 16}, WorkflowContext()
                )
            except RateLimitError:
                outcome["rate_limited"] += 1
            except ProviderUnavailableError:
                outcome["unavailable"] += 1
            except Exception as error:  # reported, so the test shows what went wrong
                outcome["other"].append(f"{type(error).__name__}: {error}")
            else:
                outcome["ok"] += 1
                answers[prompt] = response.content
            slowest = max(slowest, time.monotonic() - start)

        if command.get("concurrent", False):
            await asyncio.gather(*(one(p) for p in command["prompts"]))
        else:
            for prompt in command["prompts"]:
                await one(prompt)
        outcome["answers"] = answers
        outcome["slowest"] = slowest
        outcome["metrics"] = {
            key: {
                feature: metric_value(name, **{label: feature})
                for feature in ("cache", "rate_limit", "breaker")
            }
            for key, (name, label) in METRICS.items()
        }
        return outcome

    async def spend(self, command: dict[str, Any]) -> dict[str, Any]:
        if self.universal is None:

            def alert(event: BudgetAlert) -> None:
                self.alerts.append(event.threshold)

            self.universal = UniversalLLMPrimitive(
                coder="none",
                budget_profile="unlimited",
                monthly_limit=command["limit"],
                free_models=["free-model"],
                paid_models=["paid-model"],
                scope="fleet",
                ledger=self.ledger,
                catalog=self.catalog,
                providers=self.providers,
                on_budget_alert=alert,
            )
        universal = self.universal
        models: list[str] = []
        errors: list[str] = []

        async def one(prompt: str) -> None:
            request = {"prompt": prompt, "max_tokens": 16, "complexity": "low"}
            try:
                response = await universal.execute(request, WorkflowContext())
            except Exception as error:  # reported, so the test shows what went wrong
                errors.append(f"{type(error).__name__}: {error}")
            else:
                models.append(response.model)

        await asyncio.gather(*(one(p) for p in command["prompts"]))
        return {"models": models, "other": errors, "alerts": self.alerts}

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        assert self.link is not None
        await self.link.aclose()
        limits = fleet_limits()
        if limits is not None:
            await limits.link.aclose()
        await self.ledger.close()


async def serve(settings: dict[str, Any]) -> None:
    worker = Worker(settings)
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), flush=True)
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        if command["op"] == "quit":
            break
        if command["op"] == "spend":
            result = await worker.spend(command)
        else:
            result = await worker.ask(command)
        print(json.dumps(result), flush=True)
    await worker.close()


if __name__ == "__main__":
    asyncio.run(serve(json.loads(sys.argv[1])))
