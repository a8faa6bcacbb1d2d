"""Eight worker processes as one fleet against a local provider, sharing PostgreSQL and a
Redis that the test stops and pauses: one provider call per distinct cacheable prompt,
never more than the model's requests per minute, the breaker stopping the fleet's calls
at its threshold with one probe, every call answered, without hangs, while Redis is away,
and the money exact: no overspend, nothing lost or billed twice, each alert fired once."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import postgres_for_tests
import redis_for_tests as rt
from fleet_provider import FleetProvider
from tta_dev_integrations.llm.budget.ledger import current_month, to_usd
from tta_dev_integrations.llm.budget.postgres import PostgresLedger

pytestmark = [pytest.mark.needs("redis"), pytest.mark.needs("postgresql")]

WORKERS = 8
RPM = 12
BREAKER_FAILURES = 3
BREAKER_RESET = 2.0
# The LLM layer's Redis timeout (1 s by default). Generous here: on a loaded 2-core
# test machine a worker starved of CPU for a second would time out, fall back to local
# limits (as documented) and spoil the sharing tests; the outage tests allow for it.
REDIS_TIMEOUT = 5.0
CACHE_TIMEOUT = 0.25  # the worker's cache link (fleet_worker.py)
# The most Redis may add to one call while it is away: each link may wait out one
# operation (socket timeout, twice that overall) before cooling off.
OUTAGE_ALLOWANCE = 2 * (2 * REDIS_TIMEOUT + 2 * CACHE_TIMEOUT)
WORKER = Path(__file__).with_name("fleet_worker.py")


class Fleet:
    """The worker processes, each answering one JSON line per command."""

    def __init__(
        self, redis: rt.RedisProcess, provider: FleetProvider, home: Path, ledger_url: str
    ) -> None:
        self.redis = redis
        self.provider = provider
        self.ledger_url = ledger_url
        base = {
            "provider": "openai", "model_id": "m", "free": True, "context_window": 4096,
            "capabilities": [], "quality": {"low": 0.5, "medium": 0.5, "high": 0.5},
        }  # fmt: skip
        models = {
            "cached-model": base,
            "limited-model": {**base, "rate_limits": {"requests_per_minute": RPM}},
            "flaky-model": {**base, "provider": "ollama"},
            "paid-model": {
                **base, "model_id": "paid-m", "free": False,
                "quality": {"low": 0.9, "medium": 0.9, "high": 0.9},
                "price": {"input_usd_per_mtok": 1000.0, "output_usd_per_mtok": 1000.0},
            },
            "free-model": {**base, "provider": "ollama", "model_id": "free-m"},
        }  # fmt: skip
        catalog = home / "catalog.json"
        catalog.write_text(json.dumps({"models": models}), encoding="utf-8")
        settings = json.dumps({
            "catalog": str(catalog), "url": provider.url, "flaky_url": provider.flaky_url,
            "prefix": "fleet", "ledger_url": ledger_url,
        })  # fmt: skip
        environment = {
            **os.environ,
            "TTA_REDIS_URL": redis.url,
            "TTA_REDIS_PREFIX": "fleet",
            "TTA_RATE_LIMIT_MAX_WAIT_SECONDS": "0",
            "TTA_BREAKER_FAILURES": str(BREAKER_FAILURES),
            "TTA_BREAKER_RESET_SECONDS": str(BREAKER_RESET),
            "TTA_REDIS_TIMEOUT_SECONDS": str(REDIS_TIMEOUT),
            "TTA_HOME": str(home),
            "OTEL_TRACES_EXPORTER": "none",
        }
        command = [sys.executable, str(WORKER), settings]
        self.processes = [start_worker(command, environment) for _ in range(WORKERS)]
        self.lines: list[queue.Queue[str]] = []
        for process in self.processes:
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=_pump, args=(process, lines), daemon=True).start()
            self.lines.append(lines)
        for i in range(WORKERS):
            assert json.loads(self._read(i, 120)) == {"ready": True}

    def _read(self, i: int, timeout: float) -> str:
        try:
            return self.lines[i].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"worker {i} did not answer within {timeout}s (hung?)") from None

    def send(self, i: int, command: dict[str, Any]) -> None:
        stdin = self.processes[i].stdin
        assert stdin is not None
        stdin.write(json.dumps(command) + "\n")
        stdin.flush()

    def ask(self, i: int, model: str, prompts: list[str], **options: Any) -> dict[str, Any]:
        """One worker's calls, to the end."""
        self.send(i, {"op": "ask", "model": model, "prompts": prompts, **options})
        return json.loads(self._read(i, 60))  # type: ignore[no-any-return]

    def ask_all(
        self, model: str, prompts: list[str], timeout: float = 60, **options: Any
    ) -> list[dict[str, Any]]:
        """Every worker makes the same calls at the same time."""
        for i in range(WORKERS):
            self.send(i, {"op": "ask", "model": model, "prompts": prompts, **options})
        return [json.loads(self._read(i, timeout)) for i in range(WORKERS)]

    def close(self) -> None:
        for i, process in enumerate(self.processes):
            if process.poll() is None:
                self.send(i, {"op": "quit"})
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()


def start_worker(command: list[str], environment: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        env=environment,
        text=True,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with (
        postgres_for_tests.test_database() as database,
        postgres_for_tests.schema(database) as ledger_url,
        rt.throwaway_redis() as redis,
        FleetProvider(delay=0.02) as provider,
    ):
        made = Fleet(redis, provider, tmp_path_factory.mktemp("fleet"), ledger_url)
        try:
            yield made
        finally:
            made.close()


def no_errors(results: list[dict[str, Any]]) -> None:
    assert [r["other"] for r in results] == [[]] * WORKERS


def redis_errors(results: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Each worker's Redis errors so far (shown when a sharing assertion fails)."""
    return [r["metrics"]["redis_errors"] for r in results]


def slowest(results: list[dict[str, Any]]) -> float:
    return max(r["slowest"] for r in results)


def prompts_seen(provider: FleetProvider, prompts: list[str]) -> list[str]:
    return sorted(a.prompt for a in provider.calls() if a.prompt in prompts)


def test_one_provider_call_per_distinct_cacheable_prompt(fleet: Fleet) -> None:
    prompts = [f"cacheable {n}" for n in range(6)]
    results = fleet.ask_all("cached-model", prompts, cached=True, concurrent=True)
    no_errors(results)
    assert [r["ok"] for r in results] == [6] * WORKERS
    assert prompts_seen(fleet.provider, prompts) == sorted(prompts)  # 6 calls, not 48
    assert all(r["answers"][p] == f"answer: {p}" for r in results for p in prompts)


def test_the_provider_never_sees_more_than_the_models_requests_per_minute(fleet: Fleet) -> None:
    results = fleet.ask_all("limited-model", [f"limited {n}" for n in range(4)], concurrent=True)
    no_errors(results)
    # 32 tried, the fleet's 12 let through.
    assert sum(r["ok"] for r in results) == RPM, redis_errors(results)
    assert sum(r["rate_limited"] for r in results) == WORKERS * 4 - RPM
    times = sorted(a.at for a in fleet.provider.calls() if a.prompt.startswith("limited"))
    assert max(sum(1 for t in times if s <= t < s + 60) for s in times) == RPM


def test_the_breaker_stops_the_fleets_calls_at_its_threshold_and_one_probe_reopens(
    fleet: Fleet,
) -> None:
    fleet.provider.failing = True
    results = [  # one worker after the other, two calls each
        fleet.ask(i, "flaky-model", [f"flaky {i} a", f"flaky {i} b"]) for i in range(WORKERS)
    ]
    assert [r["unavailable"] for r in results] == [2] * WORKERS
    # Not 3 x 8, nor 16.
    assert len(fleet.provider.calls(flaky=True)) == BREAKER_FAILURES, redis_errors(results)

    fleet.provider.failing = False
    time.sleep(BREAKER_RESET + 0.2)
    results = fleet.ask_all("flaky-model", ["probe"], concurrent=True)
    assert sum(r["ok"] for r in results) == 1  # the probe
    assert sum(r["unavailable"] for r in results) == WORKERS - 1
    assert len(fleet.provider.calls(flaky=True)) == BREAKER_FAILURES + 1
    results = fleet.ask_all("flaky-model", ["closed again"])
    assert [r["ok"] for r in results] == [1] * WORKERS


def test_redis_stopped_mid_run_every_call_is_answered_and_sharing_resumes(fleet: Fleet) -> None:
    baseline = slowest(fleet.ask_all("cached-model", ["before the outage"], cached=True))
    prompts = [f"outage {n}" for n in range(15)]
    for i in range(WORKERS):
        fleet.send(i, {"op": "ask", "model": "cached-model", "prompts": prompts, "cached": True})
    time.sleep(0.15)
    fleet.redis.stop()
    results = [json.loads(fleet._read(i, 60)) for i in range(WORKERS)]
    no_errors(results)
    assert [r["ok"] for r in results] == [15] * WORKERS
    assert slowest(results) < baseline + OUTAGE_ALLOWANCE  # nobody waits long on Redis
    assert sum(r["metrics"]["local_fallbacks"]["cache"] for r in results) > 0

    fleet.redis.start()  # empty, as after a crash
    time.sleep(1.3)  # the links' cool-off
    again = [f"after restart {n}" for n in range(3)]
    results = fleet.ask_all("cached-model", again, cached=True, concurrent=True)
    no_errors(results)
    assert prompts_seen(fleet.provider, again) == sorted(again)


def test_redis_paused_longer_than_the_timeout_costs_no_hang_and_sharing_resumes(
    fleet: Fleet,
) -> None:
    baseline = slowest(fleet.ask_all("cached-model", ["before the pause"], cached=True))
    fleet.redis.pause()
    try:
        start = time.monotonic()
        prompts = [f"paused {n}" for n in range(3)]
        results = fleet.ask_all("cached-model", prompts, cached=True, timeout=30)
        elapsed = time.monotonic() - start
    finally:
        fleet.redis.resume()
    no_errors(results)
    assert [r["ok"] for r in results] == [3] * WORKERS
    assert slowest(results) < baseline + OUTAGE_ALLOWANCE
    assert elapsed < 3 * (baseline + OUTAGE_ALLOWANCE)  # three calls each, sequential
    time.sleep(1.3)
    again = [f"after pause {n}" for n in range(3)]
    results = fleet.ask_all("cached-model", again, cached=True, concurrent=True)
    no_errors(results)
    assert prompts_seen(fleet.provider, again) == sorted(again)


# Each paid call: 5 input + 3 output tokens at $1000 per million = $0.008.
PAID_CALL_USD = 0.008
# Each paid call first reserves its worst case (about $0.05 here), so concurrent calls
# beyond what the money left covers are served by the free model, and the fleet spends
# until less than one worst case is left: crossing the 50% alert on the way.
LIMIT_USD = 0.2
ROUNDS = 12


async def ledger_summary(url: str) -> Any:
    ledger = PostgresLedger(url)
    try:
        return await ledger.summary("fleet", current_month())
    finally:
        await ledger.close()


def test_the_money_holds_for_the_fleet_with_redis_up_then_stopped(fleet: Fleet) -> None:
    def spend(round_: int) -> list[dict[str, Any]]:
        """One call from every worker at once."""
        for i in range(WORKERS):
            fleet.send(i, {"op": "spend", "prompts": [f"spend {round_} w{i}"],
                           "limit": LIMIT_USD})  # fmt: skip
        return [json.loads(fleet._read(i, 120)) for i in range(WORKERS)]

    results = [r for n in range(ROUNDS // 2) for r in spend(n)]
    fleet.redis.stop()  # the ledger, not Redis, carries the money
    try:
        results += [r for n in range(ROUNDS // 2, ROUNDS) for r in spend(n)]
    finally:
        fleet.redis.start()
    assert [r["other"] for r in results] == [[]] * (ROUNDS * WORKERS)
    answered = [m for r in results for m in r["models"]]
    assert len(answered) == ROUNDS * WORKERS  # every call answered, paid or free
    paid_at_provider = [a for a in fleet.provider.calls() if a.model == "paid-m"]
    assert answered.count("paid-model") == len(paid_at_provider)
    summary = asyncio.run(ledger_summary(fleet.ledger_url))
    spent = to_usd(summary.spent_micros)
    # Nothing lost, nothing billed twice: the ledger holds exactly what the provider served.
    assert spent == pytest.approx(len(paid_at_provider) * PAID_CALL_USD)
    assert LIMIT_USD / 2 <= spent <= LIMIT_USD  # the budget was used; overspend $0
    assert summary.reserved_micros == 0
    # Each threshold crossed fired exactly once for the whole fleet.
    alerts = [t for r in results[-WORKERS:] for t in r["alerts"]]
    assert sorted(alerts) == [t for t in (0.5, 0.8, 1.0) if spent >= t * LIMIT_USD - 1e-9]
