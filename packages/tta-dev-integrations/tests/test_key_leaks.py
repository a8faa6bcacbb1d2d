"""No provider key leaves the process: not in errors, reprs, logs or spans, in any form.

Loopback servers echo the key back in every way a real server or proxy has been seen
to: inside a JSON error, in a text page cut by us at 500 characters (at every position
of the key), in an SSE error event, and in a stream whose connection is closed. The
call goes through the provider, ``LLMPrimitive``, ``RetryPrimitive`` and
``UniversalLLMPrimitive``; everything they leave behind is searched for the key raw,
URL-encoded, base64 (alone or inside a Basic header), hex, and any 12-character
fragment of it. (The CLI's output and traces are searched in the tta-cli tests.)
"""

from __future__ import annotations

import base64
import json
import logging
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

from replay_server import RecordedRequest, ReplayServer, Reply, SSEReply
from tta_dev_integrations.llm import LLMError, LLMPrimitive, create_provider
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.providers.base import Provider
from tta_dev_integrations.llm.types import LLMRequest
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import AllAlternativesFailedError, RetryPrimitive, WorkflowContext
from tta_dev_primitives.testing import capture_spans
from tta_secrets.redaction import RedactingLogFilter

# Characters outside each vendor's key shape, so a mask by shape would stop short.
KEYS = {
    "openai": "sk-proj-Zx9Qm2Lp7Vb4!Nc8Hd3Kf6Tw1Ry5aB0cD~eF2gH4",
    "anthropic": "sk-ant-api03-Zx9Qm2Lp7Vb4!Nc8Hd3Kf6Tw1Ry5aB0cD~eF2gH4",
    "gemini": "AIzaSyZx9Qm2Lp7Vb4Nc8Hd3Kf6Tw1Ry5aB0c",
}
MODELS = {"openai": "gpt-4o", "anthropic": "claude-3.5-sonnet", "gemini": "gemini-1.5-flash"}


@dataclass(frozen=True)
class Wire:
    """Where a provider's calls go and what its error answers look like."""

    complete_path: str
    stream_path: str
    key_header: str

    def error_json(self, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": "authentication_error", "code": 401}}


WIRES = {
    "openai": Wire("/chat/completions", "/chat/completions", "authorization"),
    "anthropic": Wire("/v1/messages", "/v1/messages", "x-api-key"),
    "gemini": Wire(
        "/v1beta/models/gemini-1.5-flash:generateContent",
        "/v1beta/models/gemini-1.5-flash:streamGenerateContent",
        "x-goog-api-key",
    ),
}


def leaked_forms(key: str, text: str) -> list[str]:
    """The names of the forms of ``key`` found in ``text`` (empty: nothing leaked)."""
    raw = key.encode()
    forms = {
        "raw": key,
        "url": quote(key, safe=""),
        "url-plus": quote_plus(key),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "base64-urlsafe": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "basic-core": base64.b64encode(b"u:" + raw).decode()[4:-4],
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
    }
    found = [name for name, form in forms.items() if form in text]
    found += [
        f"fragment {key[i : i + 12]!r}" for i in range(len(key) - 11) if key[i : i + 12] in text
    ]
    return found


def echo_all(key: str, header: str) -> str:
    """What a careless server says: the header it got, and the key in every encoding."""
    raw = key.encode()
    return (
        f"bad credentials {header}; url={quote(key, safe='')} plus={quote_plus(key)} "
        f"b64={base64.b64encode(raw).decode()} basic={base64.b64encode(b'u:' + raw).decode()} "
        f"hex={raw.hex()}"
    )


def error_event(provider: str, message: str) -> tuple[str | None, Any]:
    body = {"error": {"message": message, "type": "api_error", "code": 500}}
    if provider == "anthropic":
        return "error", {"type": "error", **body}
    return None, body


@dataclass
class Scene:
    """A provider pointed at an echoing server, and what the run left behind."""

    name: str
    key: str
    server: ReplayServer
    provider: Provider
    texts: list[str]

    def echo(self, request: RecordedRequest) -> str:
        return echo_all(self.key, request.headers.get(WIRES[self.name].key_header, ""))

    def record(self, value: object) -> None:
        self.texts.append(str(value))
        self.texts.append(repr(value))
        if isinstance(value, BaseException):
            self.texts.append(repr(value.args))
            self.texts.append("".join(traceback.format_exception(value)))
            for linked in (value.__cause__, value.__context__):
                if linked is not None:
                    self.record(linked)

    def assert_clean(self) -> None:
        self.record(self.provider)
        for text in self.texts:
            assert leaked_forms(self.key, text) == [], text


@pytest.fixture(params=sorted(KEYS))
def scene(request: pytest.FixtureRequest) -> Iterator[Scene]:
    name = request.param
    server = ReplayServer().start()
    provider = create_provider(name, base_url=server.url, api_key=KEYS[name])
    yield Scene(name, KEYS[name], server, provider, [])
    server.stop()


async def _complete(scene: Scene) -> None:
    try:
        with pytest.raises(LLMError) as caught:
            await scene.provider.complete(LLMRequest.from_value("hi"), MODELS[scene.name])
    finally:
        await scene.provider.aclose()
    scene.record(caught.value)


async def _stream(scene: Scene) -> None:
    try:
        with pytest.raises(LLMError) as caught:
            async for _ in scene.provider.stream(LLMRequest.from_value("hi"), MODELS[scene.name]):
                pass
    finally:
        await scene.provider.aclose()
    scene.record(caught.value)


async def test_a_key_echoed_in_a_json_error(scene: Scene) -> None:
    wire = WIRES[scene.name]
    scene.server.respond(
        wire.complete_path, lambda r: Reply.json(wire.error_json(scene.echo(r)), status=401)
    )
    await _complete(scene)
    scene.assert_clean()
    assert "bad credentials" in scene.texts[0]  # the server's message itself is kept


@pytest.mark.parametrize("offset", [0, 1, 7, 8, 20, -9, -8, -1])
async def test_a_key_in_a_text_page_cut_at_500_characters(scene: Scene, offset: int) -> None:
    # The key starts so that character 500 falls `offset` characters into it.
    start = 500 - (offset % len(scene.key))
    page = "<html><body>" + "x" * (start - 12) + scene.key + " and more</body></html>"
    wire = WIRES[scene.name]
    scene.server.add(wire.complete_path, Reply.raw(page, 401, content_type="text/html"))
    await _complete(scene)
    scene.assert_clean()


async def test_every_cut_position_of_the_key(tmp_path: Path) -> None:
    key = KEYS["openai"]
    server = ReplayServer().start()
    provider = create_provider("openai", base_url=server.url, api_key=key)
    try:
        for cut in range(len(key) + 1):
            page = "p" * (500 - cut) + key + " trailing text"
            server.add("/chat/completions", Reply.raw(page, 401, content_type="text/plain"))
            with pytest.raises(LLMError) as caught:
                await provider.complete(LLMRequest.from_value("hi"), "gpt-4o")
            shown = f"{caught.value} {caught.value!r}"
            assert leaked_forms(key, shown) == [], (cut, shown)
            assert "p" * 100 in shown  # the page is still shown, cut
    finally:
        await provider.aclose()
        server.stop()


async def test_a_key_in_an_sse_error_event(scene: Scene) -> None:
    wire = WIRES[scene.name]
    scene.server.respond(
        wire.stream_path,
        lambda r: SSEReply([error_event(scene.name, scene.echo(r))]),
    )
    await _stream(scene)
    scene.assert_clean()


async def test_a_key_in_an_http_error_answer_to_a_stream(scene: Scene) -> None:
    wire = WIRES[scene.name]
    scene.server.respond(
        wire.stream_path, lambda r: Reply.raw(scene.echo(r) * 20, 403, content_type="text/plain")
    )
    await _stream(scene)
    scene.assert_clean()


async def test_a_stream_whose_connection_is_closed(scene: Scene) -> None:
    wire = WIRES[scene.name]
    scene.server.respond(
        wire.stream_path,
        lambda r: SSEReply([(None, f": {scene.echo(r)}"), (None, "{broken")], abort=True),
    )
    await _stream(scene)
    scene.assert_clean()


async def test_a_closed_connection_to_a_base_url_with_credentials() -> None:
    key = KEYS["openai"]
    provider = create_provider(
        "openai", base_url=f"http://user:{quote(key, safe='')}@127.0.0.1:9/v1", api_key=key
    )
    try:
        with pytest.raises(LLMError) as caught:
            await provider.complete(LLMRequest.from_value("hi"), "gpt-4o")
    finally:
        await provider.aclose()
    for text in (str(caught.value), repr(caught.value), repr(provider)):
        assert leaked_forms(key, text) == [], text
        assert "127.0.0.1:9" in text or "openai" in text


# --- through the primitives, with logs and spans ----------------------------------------


@pytest.fixture
def log_text() -> Iterator[Callable[[], str]]:
    """Everything logged while the test runs, through the redacting filter."""
    import io

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactingLogFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield stream.getvalue
    root.removeHandler(handler)
    root.setLevel(old_level)


def _spans_text(spans: Any) -> str:
    return json.dumps(
        [
            [
                span.name,
                dict(span.attributes or {}),
                [[e.name, dict(e.attributes or {})] for e in span.events],
                span.status.description,
            ]
            for span in spans
        ],
        default=str,
    )


async def test_through_llm_and_retry_primitives(scene: Scene, log_text: Callable[[], str]) -> None:
    wire = WIRES[scene.name]
    scene.server.respond(
        wire.complete_path, lambda r: Reply.json(wire.error_json(scene.echo(r)), status=500)
    )
    llm = LLMPrimitive(MODELS[scene.name], provider=scene.provider)
    retry = RetryPrimitive(llm, max_attempts=2, initial_delay=0.0, jitter=0.0)

    async def no_sleep(_: float) -> None:
        return None

    retry_fast = RetryPrimitive(llm, max_attempts=2, sleep=no_sleep)
    try:
        with capture_spans() as captured:
            for primitive in (llm, retry, retry_fast):
                with pytest.raises(LLMError) as caught:
                    await primitive.execute("hi", WorkflowContext())
                scene.record(caught.value)
                logging.getLogger("app").exception("the call failed: %s", caught.value)
    finally:
        await scene.provider.aclose()
    scene.texts += [_spans_text(captured.spans), log_text(), repr(llm), repr(retry)]
    scene.assert_clean()
    assert len(scene.server.requests) == 5


async def test_through_universal_llm_primitive(tmp_path: Path) -> None:
    key = KEYS["gemini"]
    server = ReplayServer().start()
    wire = WIRES["gemini"]
    server.respond(
        wire.complete_path,
        lambda r: Reply.json(wire.error_json(echo_all(key, r.headers["x-goog-api-key"])), 401),
    )
    provider = create_provider("gemini", base_url=server.url, api_key=key)
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    universal = UniversalLLMPrimitive(
        budget_profile="free",
        free_models=["gemini-1.5-flash"],
        ledger=ledger,
        providers={"gemini": provider},
        coder="none",
    )
    texts: list[str] = []
    try:
        with capture_spans() as captured, pytest.raises(AllAlternativesFailedError) as caught:
            await universal.execute({"prompt": "hi", "complexity": "low"}, WorkflowContext())
    finally:
        await provider.aclose()
        await ledger.close()
        server.stop()
    texts += [
        str(caught.value),
        repr(caught.value),
        "".join(traceback.format_exception(caught.value)),
    ]
    texts += [_spans_text(captured.spans), repr(universal)]
    assert server.requests  # the provider was called and echoed the key
    for text in texts:
        assert leaked_forms(key, text) == [], text


def _our_frames(error: BaseException | None) -> Iterator[Any]:
    """Frames of TTA.dev code in the traceback of ``error`` and of its causes."""
    while error is not None:
        for frame, _ in traceback.walk_tb(error.__traceback__):
            if "tta_dev_integrations" in frame.f_code.co_filename:
                yield frame
        error = error.__cause__ or error.__context__


@pytest.mark.parametrize("failure", ["http-error", "network-error"])
async def test_no_frame_of_ours_holds_the_key_in_a_local(scene: Scene, failure: str) -> None:
    # What an error reporter that captures locals (Sentry, by default) would see.
    wire = WIRES[scene.name]
    if failure == "http-error":
        scene.server.add(wire.complete_path, Reply.json(wire.error_json("denied"), status=401))
    else:
        scene.server.stop()
    try:
        with pytest.raises(LLMError) as caught:
            await scene.provider.complete(LLMRequest.from_value("hi"), MODELS[scene.name])
    finally:
        await scene.provider.aclose()
    frames = list(_our_frames(caught.value))
    assert frames
    for frame in frames:
        shown = repr(dict(frame.f_locals))
        assert leaked_forms(scene.key, shown) == [], (frame.f_code.co_name, shown[:500])


async def test_streams_through_llm_and_universal_primitives(tmp_path: Path) -> None:
    key = KEYS["gemini"]
    server = ReplayServer().start()
    wire = WIRES["gemini"]
    server.respond(
        wire.stream_path,
        lambda r: SSEReply([error_event("gemini", echo_all(key, r.headers["x-goog-api-key"]))]),
    )
    provider = create_provider("gemini", base_url=server.url, api_key=key)
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    universal = UniversalLLMPrimitive(
        budget_profile="free",
        free_models=["gemini-1.5-flash"],
        ledger=ledger,
        providers={"gemini": provider},
        coder="none",
    )
    llm = LLMPrimitive("gemini-1.5-flash", provider=provider)
    errors: list[BaseException] = []
    try:
        with capture_spans() as captured:
            for stream in (
                llm.stream("hi", WorkflowContext()),
                universal.stream({"prompt": "hi", "complexity": "low"}, WorkflowContext()),
            ):
                with pytest.raises((LLMError, AllAlternativesFailedError)) as caught:
                    async for _ in stream:
                        pass
                errors.append(caught.value)
    finally:
        await provider.aclose()
        await ledger.close()
        server.stop()
    texts = [_spans_text(captured.spans)]
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
    assert len(server.requests) >= 2  # both streams reached the server and got the echo
    for text in texts:
        assert leaked_forms(key, text) == [], text[:2000]
