"""What AgentPrimitive's loop costs per step over a hand-written loop making the same calls.

Both candidates answer the same question through the same ``LLMPrimitive`` against a
canned OpenAI-compatible server (a separate process on 127.0.0.1, answering at once):
step 1 comes back with two parallel tool calls, step 2 (the request carries their
results) with the final text. Per run: two model calls, two tool calls.

* ours: ``AgentPrimitive(llm, tools=[...]).execute(question)``: schemas built once,
  argument validation, parallel dispatch, result serialisation, limits, the transcript;
* baseline: the loop by hand: the request dict with ``Tool`` definitions, the same
  ``llm.execute`` calls, ``asyncio.gather`` over the functions called with the decoded
  arguments, messages appended; no validation, no limits.

The figure is (ours - baseline) per step, target <= 0.2 ms, and the ratio of the two.
Samples alternate, the garbage collector is paused during each, the best of each
candidate's samples is compared (medians beside them).

Usage: ``python benchmarks/bench_agent.py [--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import socket
import statistics
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from time import perf_counter
from typing import Any

from machine import describe_machine
from report import finish_run
from tta_dev_integrations.agents import AgentPrimitive, tool
from tta_dev_integrations.llm import LLMPrimitive, Message, Tool, create_provider, load_catalog
from tta_dev_primitives import WorkflowContext

STEPS_PER_RUN = 2
TARGET_MS = 0.2
QUESTION = "What is the weather in Paris and in Oslo?"


def _reply(message: dict[str, Any], finish: str) -> bytes:
    body = json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "model": "canned-model",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 60, "completion_tokens": 20, "total_tokens": 80},
        }
    ).encode()
    head = f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}"
    return head.encode() + b"\r\n\r\n" + body


def _call(call_id: str, city: str) -> dict[str, Any]:
    arguments = json.dumps({"city": city})
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": "weather", "arguments": arguments},
    }


CALLS = _reply(
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [_call("c1", "Paris"), _call("c2", "Oslo")],
    },
    "tool_calls",
)
ANSWER = _reply({"role": "assistant", "content": "Mild in both."}, "stop")


class _Canned(asyncio.Protocol):
    """Keep-alive HTTP/1.1: tool calls for a first request, the answer once results came."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else len(head)]) if at >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(ANSWER if b'"tool_call_id"' in body else CALLS)


def _serve(conn: Connection) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Canned, "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        await loop.run_in_executor(None, conn.recv)
        server.close()

    asyncio.run(main())


@contextmanager
def canned_server() -> Iterator[str]:
    """The server process; yields its base URL."""
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    process = spawn.Process(target=_serve, args=(theirs,), daemon=True)
    process.start()
    try:
        if not ours.poll(30):
            raise RuntimeError("the canned server did not start")
        yield f"http://127.0.0.1:{ours.recv()}/v1"
    finally:
        with suppress(OSError):
            ours.send(None)
        process.join(5)


def weather(city: str) -> str:
    """The weather of a city."""
    return f"mild in {city}"


async def weather_async(city: str) -> str:
    """The weather of a city."""
    return weather(city)


@dataclass
class Settings:
    """How long each candidate is measured."""

    seconds: float
    repeats: int


@dataclass
class Result:
    """Per-step times of both loops and their difference."""

    key: str
    ours_ms: float
    baseline_ms: float
    ours_median_ms: float
    baseline_median_ms: float
    overhead_ms_per_step: float
    ratio: float
    target_ms: float
    passed: bool | None


Job = Callable[[], Awaitable[Any]]


def make_jobs(llm: LLMPrimitive) -> tuple[Job, Job]:
    """The agent run and the hand-written loop, each one full run of two steps."""
    agent = AgentPrimitive(llm, tools=[tool(weather_async, name="weather")])
    definition = Tool("weather", "The weather of a city.", agent.tools["weather"].parameters)
    functions = {"weather": weather_async}

    async def ours() -> str:
        result = await agent.execute(QUESTION, WorkflowContext())
        return result.output

    async def baseline() -> str:
        context = WorkflowContext()
        messages = [Message("user", QUESTION)]
        while True:
            response = await llm.execute({"messages": messages, "tools": [definition]}, context)
            messages.append(Message("assistant", response.content, response.tool_calls))
            if not response.tool_calls:
                return response.content
            results = await asyncio.gather(
                *(functions[c.name](**c.arguments) for c in response.tool_calls)
            )
            for call, text in zip(response.tool_calls, results, strict=True):
                messages.append(Message("tool", text, tool_call_id=call.id))

    return ours, baseline


async def _timed(job: Job, n: int) -> float:
    gc.disable()
    try:
        start = perf_counter()
        for _ in range(n):
            await job()
        return perf_counter() - start
    finally:
        gc.enable()


async def measure(llm: LLMPrimitive, settings: Settings) -> Result:
    """Alternating samples of both loops; per-step seconds."""
    ours, baseline = make_jobs(llm)
    assert await ours() == await baseline() == "Mild in both."
    n = 1
    while await _timed(baseline, n) < settings.seconds / 4:
        n *= 2
    samples: tuple[list[float], list[float]] = ([], [])
    for repeat in range(settings.repeats):
        order = (0, 1) if repeat % 2 == 0 else (1, 0)
        for i in order:
            seconds = await _timed((ours, baseline)[i], n)
            samples[i].append(seconds / n / STEPS_PER_RUN * 1000)
    best_ours, best_base = min(samples[0]), min(samples[1])
    overhead = best_ours - best_base
    return Result(
        key="agent_step_overhead",
        ours_ms=best_ours,
        baseline_ms=best_base,
        ours_median_ms=statistics.median(samples[0]),
        baseline_median_ms=statistics.median(samples[1]),
        overhead_ms_per_step=overhead,
        ratio=best_ours / best_base,
        target_ms=TARGET_MS,
        passed=overhead <= TARGET_MS,
    )


async def run(base_url: str, settings: Settings) -> Result:
    """Both loops against the canned server, through one LLMPrimitive."""
    provider = create_provider("openai", base_url=base_url, api_key="sk-bench-0123456789")
    llm = LLMPrimitive("gpt-4o-mini", catalog=load_catalog(), provider=provider)
    try:
        return await measure(llm, settings)
    finally:
        await provider.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run (smoke test)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON")
    args = parser.parse_args(argv)
    settings = Settings(seconds=0.2, repeats=3) if args.quick else Settings(seconds=1.0, repeats=7)
    started = perf_counter()
    with canned_server() as base_url:
        result = asyncio.run(run(base_url, settings))
    info = describe_machine()
    print(f"agent loop vs hand-written loop, per step ({STEPS_PER_RUN} steps a run)")
    print(f"  AgentPrimitive   {result.ours_ms:.3f} ms (median {result.ours_median_ms:.3f})")
    print(
        f"  by hand          {result.baseline_ms:.3f} ms (median {result.baseline_median_ms:.3f})"
    )
    verdict = "met" if result.passed else "missed"
    print(
        f"  overhead         {result.overhead_ms_per_step * 1000:.0f} us a step, ratio "
        f"{result.ratio:.2f} (target <= {TARGET_MS} ms: {verdict})"
    )
    finish_run(
        [result],
        started=started,
        settings=settings,
        info=info,
        quick=args.quick,
        json_path=args.json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
