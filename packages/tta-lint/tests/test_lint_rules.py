"""Every rule against code it must flag and near misses it must not.

The table below is also what the README counts: `test_readme_counts_match_the_cases`
keeps the two in step.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

from tta_lint import RULES, LintConfig, lint_source, parse_config

ROOT = Path(__file__).resolve().parents[3]
README = Path(__file__).resolve().parents[1] / "README.md"

# Credential-shaped values are assembled at run time, so that this file itself does
# not hold one (the project lints its own tests).
TAIL = "Qm3vT8xL2pW9rZ4kN7bY1cF6hJ0dG5sAe8Ru"
KEYS = {
    "openai": "sk-" + "proj-" + TAIL + "Xw2",
    "anthropic": "sk-" + "ant-api03-" + TAIL,
    "github": "gh" + "p_" + TAIL,
    "aws": "AK" + "IAQ3VT8XL2PW9RZ4KM",
    "google": "AI" + "za" + TAIL[:35],
    "jwt": "ey" + "JhbGciOiJIUzI1NiJ9.ey" + "JzdWIiOiJhbGljZSJ9." + TAIL,
    "slack": "xo" + "xb-" + "2048-" + TAIL[:20],
    "hf": "h" + "f_" + TAIL,
}


@dataclass(frozen=True)
class Case:
    rule: str
    flagged: bool
    title: str
    source: str
    path: str = "workflow.py"
    module: str | None = None


def flag(rule: str, title: str, source: str, **kw: str) -> Case:
    return Case(rule, True, title, source, **kw)


def near(rule: str, title: str, source: str, **kw: str) -> Case:
    return Case(rule, False, title, source, **kw)


# fmt: off
CASES = [
    # -- TTA001 hand-rolled retry -----------------------------------------------------
    flag("TTA001", "for attempt in range(n) with backoff", """
        import asyncio
        async def fetch_with_retry(url):
            for attempt in range(3):
                try:
                    return await fetch(url)
                except OSError:
                    await asyncio.sleep(2 ** attempt)
        """),
    flag("TTA001", "while True with break on success", """
        import asyncio
        async def send(msg):
            while True:
                try:
                    await client.send(msg)
                    break
                except ConnectionError:
                    await asyncio.sleep(1)
        """),
    flag("TTA001", "while-not-done flag set after the awaited call", """
        import anyio
        async def push(item):
            done = False
            while not done:
                try:
                    await queue.put(item)
                    done = True
                except Exception:
                    await anyio.sleep(0.5)
        """),
    flag("TTA001", "retry on a status code, return inside an if", """
        from asyncio import sleep
        async def get(client, url):
            for attempt in range(5):
                try:
                    response = await client.get(url)
                    if response.status_code < 500:
                        return response
                except TimeoutError:
                    pass
                await sleep(attempt)
        """),
    flag("TTA001", "injected sleep, result returned after the try", """
        async def call(self, x):
            for attempt in range(self.attempts):
                try:
                    result = await self.step(x)
                except ValueError:
                    await self._sleep(0.1)
                    continue
                return result
        """),
    near("TTA001", "loop with try/except but no sleep (skip bad items)", """
        async def load_all(paths):
            out = []
            for path in paths:
                try:
                    out.append(await read(path))
                except OSError:
                    continue
            return out
        """),
    near("TTA001", "polling loop that sleeps but has no try/except", """
        import asyncio
        async def wait_ready(job):
            while True:
                if await job.ready():
                    return True
                await asyncio.sleep(1)
        """),
    near("TTA001", "worker loop: never leaves on success", """
        import asyncio
        async def worker(queue):
            while True:
                try:
                    await handle(await queue.get())
                except Exception:
                    log.exception("failed")
                    return
                await asyncio.sleep(0.1)
        """),
    near("TTA001", "synchronous retry with time.sleep", """
        import time
        def fetch(url):
            for attempt in range(3):
                try:
                    return urlopen(url)
                except OSError:
                    time.sleep(1)
        """),
    near("TTA001", "try around a synchronous call only", """
        import asyncio
        async def read_soon(path):
            for _ in range(3):
                try:
                    return path.read_text()
                except FileNotFoundError:
                    await asyncio.sleep(0.1)
        """),
    near("TTA001", "sleep and try inside a function defined in the loop", """
        import asyncio
        async def schedule(jobs):
            for job in jobs:
                async def run():
                    try:
                        return await job()
                    except OSError:
                        await asyncio.sleep(1)
                await spawn(run)
        """),
    # -- TTA002 hand-rolled timeout ---------------------------------------------------
    flag("TTA002", "asyncio.wait_for(p.execute(x, ctx))", """
        import asyncio
        async def run(step, x, ctx):
            return await asyncio.wait_for(step.execute(x, ctx), timeout=5)
        """),
    flag("TTA002", "async with asyncio.timeout()", """
        import asyncio
        async def run(step, x, ctx):
            async with asyncio.timeout(5):
                return await step.execute(x, ctx)
        """),
    flag("TTA002", "aliased module: aio.wait_for", """
        import asyncio as aio
        async def run(step, x, context):
            return await aio.wait_for(step.execute(x, context), 1)
        """),
    flag("TTA002", "from asyncio import wait_for, with ctx.child()", """
        from asyncio import wait_for
        async def run(step, x, ctx):
            return await wait_for(step.execute(x, ctx.child(part=1)), 1)
        """),
    near("TTA002", "wait_for around a plain coroutine", """
        import asyncio
        async def run(url):
            return await asyncio.wait_for(fetch(url), 5)
        """),
    near("TTA002", "timeout around a database cursor's execute(sql, params)", """
        import asyncio
        async def count(cursor, params):
            async with asyncio.timeout(5):
                await cursor.execute("SELECT count(*) FROM t WHERE a = ?", params)
        """),
    near("TTA002", "a wait_for method that is not asyncio's", """
        async def run(scheduler, step, x, ctx):
            return await scheduler.wait_for(step.execute(x, ctx))
        """),
    near("TTA002", "async with a lock around execute", """
        async def run(lock, step, x, ctx):
            async with lock:
                return await step.execute(x, ctx)
        """),
    near("TTA002", "TimeoutPrimitive itself", """
        from tta_dev_primitives import TimeoutPrimitive
        bounded = TimeoutPrimitive(step, 5.0)
        """),
    # -- TTA003 hand-rolled parallel --------------------------------------------------
    flag("TTA003", "gather(a.execute(x, ctx), b.execute(x, ctx))", """
        import asyncio
        async def both(a, b, x, ctx):
            return await asyncio.gather(a.execute(x, ctx), b.execute(x, ctx))
        """),
    flag("TTA003", "gather(*(p.execute(x, ctx) for p in steps))", """
        import asyncio
        async def fan_out(steps, x, ctx):
            return await asyncio.gather(*(p.execute(x, ctx) for p in steps))
        """),
    flag("TTA003", "gather over a list comprehension of branches", """
        from asyncio import gather
        async def fan_out(self, request, ctx):
            return await gather(*[b.execute(request, ctx) for b in self.branches])
        """),
    near("TTA003", "gather over coroutines that are not execute()", """
        import asyncio
        async def both(a, b):
            return await asyncio.gather(fetch(a), fetch(b))
        """),
    near("TTA003", "one primitive mapped over many inputs", """
        import asyncio
        async def each(step, items, ctx):
            return await asyncio.gather(*(step.execute(item, ctx) for item in items))
        """),
    near("TTA003", "different inputs to different primitives", """
        import asyncio
        async def both(a, b, x, y, ctx):
            return await asyncio.gather(a.execute(x, ctx), b.execute(y, ctx))
        """),
    near("TTA003", "gather over database execute calls", """
        import asyncio
        async def setup(conn, params):
            await asyncio.gather(conn.execute("CREATE ...", params), conn.execute("INSERT", params))
        """),
    near("TTA003", "a gather mixing execute() with another coroutine", """
        import asyncio
        async def both(a, x, ctx):
            return await asyncio.gather(a.execute(x, ctx), fetch(x))
        """),
    # -- TTA004 hand-rolled sequence --------------------------------------------------
    flag("TTA004", "b = await p1.execute(a); c = await p2.execute(b)", """
        async def pipeline(p1, p2, a, ctx):
            b = await p1.execute(a, ctx)
            c = await p2.execute(b, ctx)
            return c
        """),
    flag("TTA004", "result returned straight from the second call", """
        async def pipeline(p1, p2, a, ctx):
            b = await p1.execute(a, ctx)
            return await p2.execute(b, ctx)
        """),
    flag("TTA004", "nested: p2.execute(await p1.execute(a))", """
        async def pipeline(p1, p2, a, ctx):
            return await p2.execute(await p1.execute(a, ctx), ctx)
        """),
    near("TTA004", "two calls on the same input (that is `|`, or independent)", """
        async def both(p1, p2, a, ctx):
            x = await p1.execute(a, ctx)
            y = await p2.execute(a, ctx)
            return x, y
        """),
    near("TTA004", "the intermediate result is used again", """
        async def pipeline(p1, p2, a, ctx):
            b = await p1.execute(a, ctx)
            c = await p2.execute(b, ctx)
            return b, c
        """),
    near("TTA004", "the result is transformed before the next call", """
        async def pipeline(p1, p2, a, ctx):
            b = await p1.execute(a, ctx)
            return await p2.execute(b.upper(), ctx)
        """),
    near("TTA004", "the second step runs only under a condition", """
        async def pipeline(p1, p2, a, ctx):
            b = await p1.execute(a, ctx)
            if b:
                return await p2.execute(b, ctx)
            return None
        """),
    near("TTA004", "database execute calls in a row", """
        async def migrate(conn, first, second, args):
            row = await conn.execute(first, args)
            return await conn.execute(second, row)
        """),
    near("TTA004", "the intermediate is also used in a nested lambda", """
        async def pipeline(p1, p2, a, ctx):
            b = await p1.execute(a, ctx)
            log(lambda: b)
            return await p2.execute(b, ctx)
        """),
    # -- TTA005 hand-rolled cache -----------------------------------------------------
    flag("TTA005", "if key in self._cache: return ...; store the awaited value", """
        class Client:
            async def get(self, key):
                if key in self._cache:
                    return self._cache[key]
                value = await self._fetch(key)
                self._cache[key] = value
                return value
        """),
    flag("TTA005", "module-level dict, `not in` guard", """
        _CACHE = {}
        async def lookup(key):
            if key not in _CACHE:
                _CACHE[key] = await fetch(key)
            return _CACHE[key]
        """),
    flag("TTA005", ".get() lookup, then store", """
        async def lookup(self, key):
            hit = self.memo.get(key)
            if hit is not None:
                return hit
            self.memo[key] = result = await compute(key)
            return result
        """),
    near("TTA005", "memo around a synchronous call", """
        class Client:
            async def get(self, key):
                if key in self._cache:
                    return self._cache[key]
                self._cache[key] = compute(key)
                return self._cache[key]
        """),
    near("TTA005", "a dict made in the same function (bookkeeping)", """
        async def fetch_all(keys):
            results = {}
            for key in keys:
                if key in results:
                    continue
                results[key] = await fetch(key)
            return results
        """),
    near("TTA005", "store without a lookup (latest value)", """
        async def refresh(self, key):
            self._latest[key] = await fetch(key)
        """),
    near("TTA005", "lookup in one container, store in another", """
        async def once(self, key):
            if key in self._seen:
                return None
            self._results[key] = await fetch(key)
        """),
    near("TTA005", "a map of locks (the value is not awaited)", """
        import asyncio
        async def lock_for(self, key):
            if key not in self._locks:
                self._locks[key] = asyncio.Lock()
            return self._locks[key]
        """),
    near("TTA005", "a parameter dict updated in place (an ASGI message)", """
        async def send(self, message):
            body = message.get("body", b"")
            message["body"] = await self.compress(body)
        """),
    # -- TTA006 direct LLM call -------------------------------------------------------
    flag("TTA006", "import openai", """
        import openai
        """),
    flag("TTA006", "from anthropic import AsyncAnthropic", """
        from anthropic import AsyncAnthropic
        """),
    flag("TTA006", "import google.generativeai as genai", """
        import google.generativeai as genai
        """),
    flag("TTA006", "from google import genai", """
        from google import genai
        """),
    flag("TTA006", "httpx POST to api.openai.com", """
        import httpx
        async def ask(prompt):
            async with httpx.AsyncClient() as client:
                return await client.post("https://api.openai.com/v1/chat/completions", json={})
        """),
    flag("TTA006", "URL built from a constant and an f-string", """
        import requests
        BASE = "https://api.anthropic.com"
        def ask(body):
            return requests.post(f"{BASE}/v1/messages", json=body)
        """),
    flag("TTA006", "client.request('POST', <Gemini URL>)", """
        async def ask(client, model):
            url = "https://generativelanguage.googleapis.com/v1beta/models/x:generateContent"
            return await client.request("POST", url)
        """),
    near("TTA006", "the project's own adapter module named like an SDK", """
        from tta_dev_integrations.llm.providers import openai_compat
        """),
    near("TTA006", "a package whose name starts with an SDK's", """
        import openai_helpers
        """),
    near("TTA006", "a relative import of a local module called openai", """
        from .openai import adapter
        """),
    near("TTA006", "GET to an LLM host (listing models)", """
        async def models(client):
            return await client.get("https://api.openai.com/v1/models")
        """),
    near("TTA006", "POST to an endpoint that is not an LLM's", """
        async def chat(client):
            return await client.post("https://example.org/api/chat", json={})
        """),
    near("TTA006", "an LLM path given to a test server, not posted", """
        def setup(server, reply):
            server.add("/chat/completions", reply)
        """),
    near("TTA006", "a web route serving the endpoint (decorator)", """
        @router.post("/v1/chat/completions")
        async def completions(request):
            return await handle(request)
        """),
    near("TTA006", "another google package", """
        from google.cloud import storage
        """),
    # -- TTA007 execute override ------------------------------------------------------
    flag("TTA007", "WorkflowPrimitive[str, str] subclass defines execute", """
        from tta_dev_primitives import WorkflowPrimitive
        class Shout(WorkflowPrimitive[str, str]):
            async def execute(self, input_data, context):
                return input_data.upper()
        """),
    flag("TTA007", "subclass of a known primitive (RetryPrimitive)", """
        from tta_dev_primitives import RetryPrimitive
        class LoudRetry(RetryPrimitive):
            async def execute(self, input_data, context):
                return await super().execute(input_data, context)
        """),
    flag("TTA007", "module alias: tdp.WorkflowPrimitive", """
        import tta_dev_primitives as tdp
        class Step(tdp.WorkflowPrimitive):
            async def execute(self, input_data, context):
                return input_data
        """),
    flag("TTA007", "through a subclass defined in the same file", """
        from tta_dev_primitives.core.base import WorkflowPrimitive
        class Base(WorkflowPrimitive):
            async def _execute_impl(self, input_data, context):
                return input_data
        class Child(Base):
            async def execute(self, input_data, context):
                return input_data
        """),
    flag("TTA007", "subclass of LLMPrimitive", """
        from tta_dev_integrations.llm import LLMPrimitive
        class MyLLM(LLMPrimitive):
            async def execute(self, request, context):
                return await super().execute(request, context)
        """),
    near("TTA007", "execute on a class that is not a primitive", """
        class Database:
            async def execute(self, sql, params):
                return await self.conn.execute(sql, params)
        """),
    near("TTA007", "a primitive implementing _execute_impl", """
        from tta_dev_primitives import WorkflowPrimitive
        class Shout(WorkflowPrimitive[str, str]):
            async def _execute_impl(self, input_data, context):
                return input_data.upper()
        """),
    near("TTA007", "a local class that happens to be called WorkflowPrimitive", """
        class WorkflowPrimitive:
            pass
        class Job(WorkflowPrimitive):
            def execute(self):
                return 1
        """),
    near("TTA007", "another library's WorkflowPrimitive", """
        from other_framework import WorkflowPrimitive
        class Job(WorkflowPrimitive):
            def execute(self):
                return 1
        """),
    near("TTA007", "a helper called execute inside _execute_impl", """
        from tta_dev_primitives import WorkflowPrimitive
        class Step(WorkflowPrimitive):
            async def _execute_impl(self, input_data, context):
                def execute():
                    return input_data
                return execute()
        """),
    # -- TTA008 secret literal --------------------------------------------------------
    flag("TTA008", "OpenAI project key", 'API_KEY = "{openai}"\n'),
    flag("TTA008", "Anthropic key as a keyword argument",
         'client = Client(api_key="{anthropic}")\n'),
    flag("TTA008", "GitHub token inside a header value",
         'HEADERS = {"Authorization": "token {github}"}\n'),
    flag("TTA008", "AWS access key id", 'ACCESS = "{aws}"\n'),
    flag("TTA008", "Google API key", 'params = {"key": "{google}"}\n'),
    flag("TTA008", "JSON Web Token", 'TOKEN = "{jwt}"\n'),
    flag("TTA008", "Slack bot token", 'notify(token="{slack}")\n'),
    flag("TTA008", "Hugging Face token", 'login("{hf}")\n'),
    flag("TTA008", "random-looking password", 'db_password = "Xk9#mP2$vL7qR4wZ"\n'),
    flag("TTA008", "hex client secret",
         'self.client_secret = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"\n'),
    near("TTA008", "short string starting with sk-", 'prefix = "sk-abc"\n'),
    near("TTA008", "sk- inside a word (task-queue-...)",
         'queue = "task-queue-worker-0001-priority-high"\n'),
    near("TTA008", "key read from the environment", """
        import os
        api_key = os.environ["OPENAI_API_KEY"]
        """),
    near("TTA008", "obvious fakes: sk-test-..., AIza...Fake...", """
        KEY = "sk-test-Qm3vT8xL2pW9rZ4kN7bY1cF6"
        GOOGLE = "AIzaSyFakeKeyQm3vT8xL2pW9rZ4kN7bY1cF"
        """),
    near("TTA008", "a fake spelled with a run of one character",
         'OPENAI = "sk-cli-value-000000000000wxyz"\n'),
    near("TTA008", "the name of the variable that holds the key",
         'api_key_env = "OPENAI_API_KEY"\n'),
    near("TTA008", "a low-entropy value under a secret's name",
         'password = "aaaaaaaaaaaaaaaaaaaa"\n'),
    near("TTA008", "a URL under a token's name",
         'token_url = "https://auth.example.org/oauth/token"\n'),
    near("TTA008", "a cache key is not a secret", 'cache_key = "f3a9c2e8b1d7460e9a1b"\n'),
    near("TTA008", "a regex describing keys",
         'PATTERN = re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")\n'),
    near("TTA008", "an identifier-like value (a price key)", 'price_key = "cache_write_5m_mtok"\n'),
    near("TTA008", "a regex assigned to a name with 'secret'", 'secret = r"([a-zA-Z0-9_-]{44})"\n'),
    # -- TTA009 forbidden import (the project's contracts) ----------------------------
    flag("TTA009", "secrets importing the integrations", """
        from tta_dev_integrations.llm import LLMPrimitive
        """, path="packages/tta-secrets/src/tta_secrets/loader.py", module="tta_secrets.loader"),
    flag("TTA009", "core importing the integrations (plain import)", """
        import tta_dev_integrations.llm
        """, path="packages/tta-dev-primitives/src/tta_dev_primitives/x.py",
        module="tta_dev_primitives.x"),
    flag("TTA009", "a lazy import inside a function", """
        def load():
            from tta_dev_integrations.llm import catalog
            return catalog
        """, path="packages/tta-secrets/src/tta_secrets/x.py", module="tta_secrets.x"),
    flag("TTA009", "an import under TYPE_CHECKING (counts by default)", """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from tta_dev_integrations.llm import LLMRequest
        """, path="packages/tta-dev-primitives/src/tta_dev_primitives/x.py",
        module="tta_dev_primitives.x"),
    flag("TTA009", "importlib.import_module of the CLI", """
        import importlib
        app = importlib.import_module("tta_cli.app")
        """, path="packages/tta-dev-integrations/src/tta_dev_integrations/x.py",
        module="tta_dev_integrations.x"),
    flag("TTA009", "the integrations importing the CLI's errors", """
        from tta_cli.errors import CLIError
        """, path="packages/tta-dev-integrations/src/tta_dev_integrations/x.py",
        module="tta_dev_integrations.x"),
    near("TTA009", "integrations importing the core (the allowed direction)", """
        from tta_dev_primitives import WorkflowPrimitive
        from tta_secrets import loader
        """, path="packages/tta-dev-integrations/src/tta_dev_integrations/x.py",
        module="tta_dev_integrations.x"),
    near("TTA009", "the CLI importing itself", """
        from tta_cli.errors import CLIError
        """, path="packages/tta-cli/src/tta_cli/commands/x.py", module="tta_cli.commands.x"),
    near("TTA009", "the CLI's tests importing the CLI", """
        from tta_cli.app import app
        """, path="packages/tta-cli/tests/test_cli_x.py", module="test_cli_x"),
    near("TTA009", "a package whose name only starts with a forbidden one", """
        import tta_dev_integrations_extra
        """, path="packages/tta-secrets/src/tta_secrets/x.py", module="tta_secrets.x"),
    near("TTA009", "the module name in a string, not imported", """
        print("tta_cli")
        """, path="packages/tta-secrets/src/tta_secrets/x.py", module="tta_secrets.x"),
]
# fmt: on


def project_config() -> LintConfig:
    import tomllib

    table = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return parse_config(table["tool"]["tta"]["lint"], root=ROOT)


def _lint(case: Case) -> list[str]:
    source = textwrap.dedent(case.source)
    for name, value in KEYS.items():
        source = source.replace("{" + name + "}", value)
    config = project_config() if case.rule == "TTA009" else LintConfig()
    return [f.rule.id for f in lint_source(source, case.path, config=config, module=case.module)]


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.flagged], ids=lambda c: f"{c.rule}-{c.title}"
)
def test_flags(case: Case) -> None:
    found = _lint(case)
    assert case.rule in found, f"{case.rule} not reported for: {case.title}"
    assert set(found) == {case.rule}, f"other rules fired too: {found}"


@pytest.mark.parametrize(
    "case", [c for c in CASES if not c.flagged], ids=lambda c: f"{c.rule}-{c.title}"
)
def test_near_misses_are_not_flagged(case: Case) -> None:
    assert _lint(case) == [], f"near miss flagged: {case.title}"


def test_every_rule_has_cases_both_ways() -> None:
    for rule_id in RULES:
        assert any(c.rule == rule_id and c.flagged for c in CASES), rule_id
        assert sum(c.rule == rule_id and not c.flagged for c in CASES) >= 3, rule_id


def test_readme_counts_match_the_cases() -> None:
    text = README.read_text(encoding="utf-8")
    flagged = sum(c.flagged for c in CASES)
    near_misses = len(CASES) - flagged
    summary = re.search(
        r"\*\*(\d+) rules\*\*.*?\*\*(\d+) cases that must be flagged\*\*.*?"
        r"\*\*(\d+) near misses\*\*",
        text,
        re.S,
    )
    assert summary is not None, "README lost its counts sentence"
    assert tuple(map(int, summary.groups())) == (len(RULES), flagged, near_misses)
    for rule_id in RULES:
        row = re.search(rf"^\| `{rule_id}` .*\| (\d+) \| (\d+) \|$", text, re.M)
        assert row is not None, f"README has no table row for {rule_id}"
        expected = (
            sum(c.rule == rule_id and c.flagged for c in CASES),
            sum(c.rule == rule_id and not c.flagged for c in CASES),
        )
        assert tuple(map(int, row.groups())) == expected, rule_id


def test_readme_lists_every_near_miss() -> None:
    text = README.read_text(encoding="utf-8")
    for case in CASES:
        if not case.flagged:
            assert case.title in text, f"README does not list the near miss {case.title!r}"
