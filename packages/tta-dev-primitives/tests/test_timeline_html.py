from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import selectors
import shutil
import struct
import subprocess
import time
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tta_dev_primitives import (
    ParallelPrimitive,
    RetryPrimitive,
    SequentialPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.observability.span_file import span_to_dict
from tta_dev_primitives.observability.timeline_html import render_timeline, write_timeline
from tta_dev_primitives.observability.trace_view import (
    SpanRecord,
    TraceTree,
    build_traces,
    load_traces,
)
from tta_dev_primitives.testing import FakeClock, FunctionPrimitive, capture_spans

CHROMIUM = Path("/usr/bin/chromium")
HOSTILE_NAME = "<script>alert('name')</script>"
HOSTILE_VALUE = "</script><img src=x onerror=alert(1)>"


def record(
    span_id: str, parent: str | None, start: int, end: int, *, trace_id: str = "a" * 32, **kw: Any
) -> SpanRecord:
    return SpanRecord.from_json(
        {
            "trace_id": trace_id,
            "span_id": span_id,
            "parent_span_id": parent,
            "name": kw.pop("name", f"step-{span_id}"),
            "start_time_unix_nano": start,
            "end_time_unix_nano": end,
            **kw,
        }
    )


async def realistic_traces(tmp_path: Path) -> list[TraceTree]:
    """Spans of real primitives (one run succeeds after a retry, one fails) plus an LLM call."""
    clock = FakeClock()
    flaky = FunctionPrimitive.scripted([RuntimeError("flaky"), "ok"], name="flaky-tool")
    answer = FunctionPrimitive(lambda x: x, name="chat gpt-4o-mini")
    ok = SequentialPrimitive(
        [
            FunctionPrimitive(lambda x: x, name="classify"),
            ParallelPrimitive([RetryPrimitive(flaky, sleep=clock.sleep, name="retry"), answer]),
        ],
        name="support-flow",
    )

    def broken(_: str) -> str:
        raise ValueError("ledger unreachable")

    failing = SequentialPrimitive([FunctionPrimitive(broken, name="charge")], name="billing")
    with capture_spans() as captured:
        await ok.execute("hi", WorkflowContext())
        with pytest.raises(ValueError, match="ledger"):
            await failing.execute("hi", WorkflowContext())
    lines = [span_to_dict(s) for s in captured.spans]
    for line in lines:
        if line["name"] == "chat gpt-4o-mini":
            line["attributes"].update(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 812,
                    "gen_ai.usage.output_tokens": 96,
                    "tta.llm.model": "gpt-4o-mini",
                    "tta.llm.cost_usd": 0.0001794,
                    "tta.llm.cost_estimated": False,
                }
            )
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    traces, _ = load_traces([path])
    return traces


def hostile_trace() -> TraceTree:
    return build_traces(
        [
            record("r00t", None, 0, 1_000_000, name=HOSTILE_NAME, trace_id='b"<x>' + "b" * 27),
            record(
                "kid",
                "r00t",
                250_000,
                750_000,
                name="kid & <b>bold</b>",
                trace_id='b"<x>' + "b" * 27,
                attributes={"evil": HOSTILE_VALUE, "nested": {"k": ["<!--", "-->"]}},
                status={"code": "ERROR", "description": HOSTILE_VALUE},
            ),
        ]
    )[0]


class Page(HTMLParser):
    """Tags, attributes, text and script bodies of an HTML page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "script":
            self._in_script = dict(attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self.scripts.append((self._in_script, data))
        else:
            self.text.append(data)

    def attr_values_where(self, name: str, key: str, value: str) -> list[str]:
        return [a.get(name) or "" for _, a in self.tags if a.get(key) == value]

    def attr_values(self, name: str) -> list[str]:
        return [v or "" for _, attrs in self.tags for k, v in attrs.items() if k == name]

    def all_text(self) -> str:
        return "".join(self.text)


def embedded_data(page: Page) -> dict[str, Any]:
    (body,) = [text for attrs, text in page.scripts if attrs.get("id") == "tta-span-data"]
    return json.loads(body)


async def test_the_page_needs_nothing_from_the_network(tmp_path: Path) -> None:
    html = render_timeline(await realistic_traces(tmp_path))
    page = Page(html)

    tag_names = {tag for tag, _ in page.tags}
    assert not tag_names & {"link", "img", "iframe", "object", "embed", "base", "source"}
    for attribute in ("src", "href", "srcset", "action", "poster"):
        assert page.attr_values(attribute) == []
    assert not re.search(r"url\(|@import|https?:|//[a-z]", html.replace("http-equiv", ""))
    (csp,) = [
        a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert "default-src 'none'" in csp


async def test_every_span_is_a_row_with_its_facts(tmp_path: Path) -> None:
    traces = await realistic_traces(tmp_path)
    page = Page(render_timeline(traces))
    text = page.all_text()

    assert [t.name for t in traces] == ["billing", "support-flow"]
    for trace in traces:
        for span in trace.spans:
            assert span.name in text
    assert len(page.attr_values("data-key")) == sum(len(t.spans) for t in traces)
    assert "gpt-4o-mini" in text
    assert "908 tokens" in text
    assert "$0.000179" in text
    assert "1 failed" in text
    data = embedded_data(page)["spans"]
    assert {v["name"] for v in data.values()} >= {"support-flow", "flaky-tool", "charge"}
    charge = next(v for v in data.values() if v["name"] == "charge")
    assert charge["outcome"] == "error"
    assert "ledger unreachable" in charge["description"]


def test_untrusted_text_is_escaped_everywhere() -> None:
    html = render_timeline([hostile_trace()], title="<i>title</i>")
    page = Page(html)

    assert HOSTILE_NAME not in html
    assert HOSTILE_VALUE not in html
    assert "<b>bold</b>" not in html
    assert "<i>title</i>" not in html
    assert [tag for tag, _ in page.tags].count("script") == 2
    assert "img" not in {tag for tag, _ in page.tags}
    assert HOSTILE_NAME in page.all_text()
    assert "kid & <b>bold</b>" in page.all_text()
    spans = embedded_data(page)["spans"]
    kid = next(v for v in spans.values() if v["span_id"] == "kid")
    assert kid["attributes"] == {"evil": HOSTILE_VALUE, "nested": {"k": ["<!--", "-->"]}}
    assert kid["description"] == HOSTILE_VALUE
    assert all(key.startswith('b"<x>') for key in spans)


def test_the_script_is_allowed_by_its_hash_and_nothing_else() -> None:
    page = Page(render_timeline([hostile_trace()]))
    (csp,) = [
        a["content"] for t, a in page.tags if a.get("http-equiv") == "Content-Security-Policy"
    ]
    (code,) = [text for attrs, text in page.scripts if "type" not in attrs]
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1]


def test_bars_are_placed_by_start_and_length() -> None:
    trace = build_traces(
        [
            record("r", None, 1_000, 2_000),
            record("c", "r", 1_250, 1_750),
            record("z", "r", 2_000, 2_000),
        ]
    )[0]
    html = render_timeline([trace])
    assert "left:0.000%;width:100.000%" in html
    assert "left:25.000%;width:50.000%" in html
    assert "left:100.000%;width:0.000%" in html


def test_a_trace_of_zero_length_and_no_traces_still_render() -> None:
    instant = build_traces([record("r", None, 5, 5)])[0]
    assert "left:0.000%;width:0.000%" in render_timeline([instant])
    assert "No traces to show." in Page(render_timeline([])).all_text()


def test_write_timeline_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "timeline.html"
    target.write_text("old")
    trace = build_traces([record("r", None, 0, 10)])[0]

    assert write_timeline([trace], target) == target

    assert "step-r" in target.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["timeline.html"]


def artifacts_dir() -> Path:
    configured = os.environ.get("TTA_TEST_ARTIFACTS")
    directory = (
        Path(configured) if configured else Path(__file__).resolve().parents[3] / "test-artifacts"
    )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def chromium(tmp_path: Path, *args: str) -> str:
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def png_pixels(path: Path) -> tuple[int, int, list[bytes]]:
    """Width, height and pixels of an 8-bit, non-interlaced RGB or RGBA PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset, chunks = 8, b""
    width = height = channels = 0
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, interlace) == (8, 0)
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            chunks += body
        offset += 12 + length
    raw = zlib.decompress(chunks)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[bytes] = []
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        kind, row = line[0], bytearray(line[1:])
        for i in range(stride):
            left = row[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                row[i] = (row[i] + left) & 0xFF
            elif kind == 2:
                row[i] = (row[i] + up) & 0xFF
            elif kind == 3:
                row[i] = (row[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                best = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[i] = (row[i] + best) & 0xFF
        pixels.extend(bytes(row[x : x + 3]) for x in range(0, stride, channels))
        previous = row
    return width, height, pixels


@pytest.fixture
async def realistic(tmp_path: Path) -> list[TraceTree]:
    return await realistic_traces(tmp_path)


@pytest.mark.needs("chromium")
def test_the_timeline_renders_in_headless_chromium(
    tmp_path: Path, realistic: list[TraceTree]
) -> None:
    if shutil.which(str(CHROMIUM)) is None:
        pytest.skip("headless Chromium is not installed at /usr/bin/chromium (apt: chromium)")
    traces = [*realistic, hostile_trace()]
    page_path = write_timeline(traces, tmp_path / "timeline.html")
    url = page_path.as_uri()

    dom = Page(chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", url))

    rows = sum(len(t.spans) for t in traces)
    (body,) = [attrs for tag, attrs in dom.tags if tag == "body"]
    assert body.get("data-ready") == str(rows), "the page's script did not run to its end"
    text = dom.all_text()
    for trace in traces:
        for span in trace.spans:
            assert span.name in text
    assert "img" not in {tag for tag, _ in dom.tags}

    charge = next(s for t in traces for s in t.spans if s.name == "charge")
    kid = next(s for s in traces[-1].spans if s.span_id == "kid")
    for chosen, expected in ((charge, "ledger unreachable"), (kid, HOSTILE_VALUE)):
        key = f"{chosen.trace_id}:{chosen.span_id}"
        dumped = chromium(tmp_path, "--dump-dom", f"{url}#span={quote(key, safe='')}")
        details = selected_details(dumped)
        assert chosen.name in details
        assert expected in details
        assert "img" not in {tag for tag, _ in Page(dumped).tags}

    shot = artifacts_dir() / "trace-timeline.png"
    shot.unlink(missing_ok=True)
    llm = next(s for t in traces for s in t.spans if s.input_tokens)
    selected_url = f"{url}#span={quote(f'{llm.trace_id}:{llm.span_id}', safe='')}"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,800", selected_url)
    shutil.copyfile(page_path, artifacts_dir() / "trace-timeline.html")
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1280, 800)
    colours = Counter(pixels)
    background = colours.most_common(1)[0][1]
    assert len(colours) > 50
    assert 1 - background / len(pixels) > 0.03, "the screenshot is nearly blank"


def selected_details(dom: str) -> str:
    """Text inside <aside id="details"> of a dumped DOM."""

    class Details(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.depth = 0
            self.parts: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if self.depth or (tag == "aside" and ("id", "details") in attrs):
                self.depth += 1

        def handle_endtag(self, tag: str) -> None:
            if self.depth:
                self.depth -= 1

        def handle_data(self, data: str) -> None:
            if self.depth:
                self.parts.append(data)

    parser = Details()
    parser.feed(dom)
    parser.close()
    return " ".join(parser.parts)


class DevTools:
    """Chromium driven over the DevTools protocol on a pipe (fds 3 and 4 of the browser)."""

    def __init__(self, tmp_path: Path) -> None:
        browser = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'devtools-profile'}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # The shell hands our pipes to the browser as the fds it reads (3) and writes (4).
        shell = 'exec "$0" "$@" 3<&0 4>&1 </dev/null >/dev/null'
        self.process = subprocess.Popen(
            ["sh", "-c", shell, *browser],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self.buffer = b""
        self.last_id = 0
        self.session: str | None = None

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.last_id += 1
        message: dict[str, Any] = {"id": self.last_id, "method": method, "params": params}
        if self.session is not None and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        self.process.stdin.write(json.dumps(message).encode() + b"\0")
        self.process.stdin.flush()
        deadline = time.monotonic() + 30
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                while b"\0" in self.buffer:
                    raw, self.buffer = self.buffer.split(b"\0", 1)
                    reply = json.loads(raw)
                    if reply.get("id") == self.last_id:
                        assert "error" not in reply, reply
                        return dict(reply["result"])
                if not selector.select(max(0.0, deadline - time.monotonic())):
                    raise TimeoutError(f"Chromium did not answer {method}")
                chunk = os.read(self.process.stdout.fileno(), 1 << 16)
                if not chunk:
                    raise EOFError("Chromium closed the DevTools pipe")
                self.buffer += chunk

    def open(self, url: str) -> None:
        target = self.call("Target.createTarget", url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise TimeoutError(f"the page never made {expression!r} true")

    def close(self) -> None:
        try:
            self.call("Browser.close")
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait(timeout=30)
            for stream in (self.process.stdin, self.process.stdout):
                if stream is not None:
                    stream.close()


INTERACT = """(function () {
  function row(name) {
    return Array.from(document.querySelectorAll(".row")).find(function (r) {
      return r.querySelector(".name").textContent === name;
    });
  }
  function visible() {
    return Array.from(document.querySelectorAll(".row"))
      .filter(function (r) { return !r.hidden; })
      .map(function (r) { return r.querySelector(".name").textContent; });
  }
  function key(target, name) {
    target.dispatchEvent(new KeyboardEvent("keydown", {key: name, bubbles: true}));
  }
  var out = {all: visible()};
  row("retry").querySelector(".toggle").click();
  out.retryCollapsed = visible();
  row("ParallelPrimitive").querySelector(".toggle").click();
  out.parallelCollapsed = visible();
  row("ParallelPrimitive").querySelector(".toggle").click();
  out.parallelExpanded = visible();
  row("retry").querySelector(".toggle").click();
  out.retryExpanded = visible();
  row("charge").click();
  out.details = document.getElementById("details").textContent;
  out.selected = Array.from(document.querySelectorAll(".row.selected")).map(function (r) {
    return r.querySelector(".name").textContent;
  });
  row("classify").focus();
  key(row("classify"), "ArrowDown");
  out.focusAfterDown = document.activeElement.querySelector(".name").textContent;
  key(document.activeElement, "Enter");
  out.detailsAfterEnter = document.querySelector("#details h3").textContent;
  key(row("retry"), "ArrowLeft");
  out.afterLeft = visible();
  key(row("retry"), "ArrowRight");
  out.afterRight = visible();
  return out;
})()"""


@pytest.mark.needs("chromium")
def test_rows_collapse_select_and_move_with_the_keyboard_in_chromium(
    tmp_path: Path, realistic: list[TraceTree]
) -> None:
    if shutil.which(str(CHROMIUM)) is None:
        pytest.skip("headless Chromium is not installed at /usr/bin/chromium (apt: chromium)")
    page_path = write_timeline(realistic, tmp_path / "timeline.html")
    browser = DevTools(tmp_path)
    try:
        browser.open(page_path.as_uri())
        browser.wait_for("document.body && document.body.dataset.ready")
        out = browser.evaluate(INTERACT)
    finally:
        browser.close()

    everything = out["all"]
    assert everything.count("flaky-tool") == 2
    without_retries = [n for n in everything if n != "flaky-tool"]
    assert out["retryCollapsed"] == without_retries
    assert out["parallelCollapsed"] == [
        n for n in without_retries if n not in ("retry", "chat gpt-4o-mini")
    ]
    assert out["parallelExpanded"] == without_retries, "a collapsed child stays collapsed"
    assert out["retryExpanded"] == everything
    assert out["selected"] == ["charge"]
    assert "ledger unreachable" in out["details"]
    assert out["focusAfterDown"] == "ParallelPrimitive"
    assert out["detailsAfterEnter"] == "ParallelPrimitive"
    assert out["afterLeft"] == without_retries
    assert out["afterRight"] == everything
