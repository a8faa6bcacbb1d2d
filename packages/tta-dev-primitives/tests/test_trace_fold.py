"""Chains of single-child wrappers fold into one row that lists them; informative ones don't."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tta_dev_primitives import (
    BulkheadPrimitive,
    CachePrimitive,
    FallbackPrimitive,
    MapPrimitive,
    RetryPrimitive,
    SequentialPrimitive,
    TimeoutPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.observability.span_file import span_to_dict
from tta_dev_primitives.observability.timeline_html import render_timeline
from tta_dev_primitives.observability.trace_fold import folded_rows
from tta_dev_primitives.observability.trace_view import TraceTree, load_traces
from tta_dev_primitives.testing import FakeClock, FunctionPrimitive, capture_spans


async def _traces(tmp_path: Path) -> list[TraceTree]:
    """A map over two tasks, each a draft step behind five wrappers, plus a retry that retried."""
    clock = FakeClock()
    chat = FunctionPrimitive(lambda request: f"plan for {request}", name="chat local")
    draft = CachePrimitive(
        FallbackPrimitive(
            RetryPrimitive(
                TimeoutPrimitive(BulkheadPrimitive(chat, 2, name="calls"), 5.0, name="deadline"),
                name="again",
            ),
            [FunctionPrimitive(lambda request: "rules", name="rules")],
            name="first-step",
        ),
        name="draft-cache",
    )
    flaky = FunctionPrimitive.scripted([RuntimeError("flaky"), "ok", "ok"], name="flaky")
    task = SequentialPrimitive(
        [draft, RetryPrimitive(flaky, sleep=clock.sleep, name="retry-flaky")], name="task"
    )
    backlog = MapPrimitive(task, item_name=lambda item: f"task {item}: title", name="triage")
    with capture_spans() as captured:
        await backlog.execute(["T1", "T2"], WorkflowContext())
    path = tmp_path / "spans.jsonl"
    lines = [json.dumps(span_to_dict(span)) + "\n" for span in captured.spans]
    path.write_text("".join(lines), encoding="utf-8")
    traces, _ = load_traces([path])
    return traces


async def test_a_wrapper_chain_is_one_row_that_lists_the_wrappers(tmp_path: Path) -> None:
    (trace,) = await _traces(tmp_path)
    rows = list(folded_rows(trace))
    shown = [(row.depth, row.title, row.folded_names) for row in rows]
    chats = [entry for entry in shown if entry[1] == "chat local"]
    assert len(chats) == 2
    assert chats[0] == (
        2,
        "chat local",
        ["draft-cache", "first-step", "again", "deadline", "calls"],
    )
    # The item span of the map and the sequence it wraps: one row named after the item.
    items = sorted(entry for entry in shown if entry[1].startswith("task T"))
    assert items == [(1, "task T1: title", ["task"]), (1, "task T2: title", ["task"])]
    # One task's retry retried (two children): it keeps its row above both attempts; the
    # other's succeeded at once and folds into its attempt's row.
    assert [entry[2] for entry in shown if entry[1] == "retry-flaky"] == [[]]
    flaky = [entry[2] for entry in shown if entry[1] == "flaky"]
    assert sorted(flaky) == [[], [], ["retry-flaky"]]
    assert len(rows) == len(trace.spans) - (2 * 5 + 2 + 1)
    row = next(row for row in rows if row.title == "chat local")
    assert row.start_ns == row.wrappers[0].span.start_ns
    assert row.duration_ns == row.wrappers[0].span.duration_ns


async def test_unfolded_rows_are_every_span(tmp_path: Path) -> None:
    (trace,) = await _traces(tmp_path)
    rows = list(folded_rows(trace, fold=False))
    assert [(row.depth, row.node.span.span_id) for row in rows] == [
        (depth, node.span.span_id) for depth, node in trace.walk()
    ]
    assert not any(row.wrappers for row in rows)


async def test_a_wrapper_whose_outcome_differs_keeps_its_row(tmp_path: Path) -> None:
    import asyncio

    async def slow(_: str) -> str:
        await asyncio.sleep(1)
        return "late"

    workflow = SequentialPrimitive(
        [TimeoutPrimitive(FunctionPrimitive(slow, name="slow"), 0.01, name="deadline")],
        name="flow",
    )
    with capture_spans() as captured, pytest.raises(TimeoutError):
        await workflow.execute("x", WorkflowContext())
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(json.dumps(span_to_dict(s)) + "\n" for s in captured.spans))
    (trace,) = load_traces([path])[0]
    assert [(row.title, row.folded_names) for row in folded_rows(trace)] == [
        ("flow", []),
        ("deadline", []),
        ("slow", []),
    ]


async def test_the_timeline_shows_a_chain_as_one_row_with_its_wrappers_hidden(
    tmp_path: Path,
) -> None:
    traces = await _traces(tmp_path)
    page = render_timeline(traces)
    visible = re.findall(r'<div class="row" [^>]*data-key="([^"]+)"', page)
    hidden = re.findall(r'<div class="row fold" [^>]*data-fold="([^"]+)" hidden', page)
    assert len(visible) + len(hidden) == len(traces[0].spans)
    assert len(hidden) == 2 * 5 + 2 + 1
    assert "via draft-cache \u203a first-step \u203a again \u203a deadline \u203a calls" in page
    assert page.count('aria-label="show the 5 folded spans">+5</button>') == 2
    # Every folded wrapper belongs to a visible chain row.
    assert set(hidden) <= set(visible)
    unfolded = render_timeline(traces, fold=False)
    assert 'class="row fold"' not in unfolded
    assert "+5</button>" not in unfolded


UNFOLD = """(function () {
  function rows() { return Array.from(document.querySelectorAll(".row")); }
  function visible() {  // laid out, not merely flagged: CSS must honour [hidden]
    return rows().filter(function (r) { return r.getClientRects().length > 0; })
      .map(function (r) { return r.querySelector(".name").textContent; });
  }
  function named(name) {
    return rows().filter(function (r) { return r.querySelector(".name").textContent === name; });
  }
  var out = {folded: visible()};
  var chat = named("chat local")[0];
  chat.querySelector(".unfold").click();
  out.unfolded = visible();
  out.pressed = chat.querySelector(".unfold").getAttribute("aria-pressed");
  var root = named("triage")[0];
  root.querySelector(".toggle").click();
  out.rootCollapsed = visible();
  root.querySelector(".toggle").click();
  out.rootExpanded = visible();
  chat.querySelector(".unfold").click();
  out.refolded = visible();
  return out;
})()"""


@pytest.mark.needs("chromium")
def test_the_plus_button_shows_and_hides_the_wrappers_in_chromium(tmp_path: Path) -> None:
    import asyncio
    import importlib.util
    import shutil

    from tta_dev_primitives.observability.timeline_html import write_timeline

    # The browser driver of the timeline's own tests (tests here are not a package).
    spec = importlib.util.spec_from_file_location(
        "timeline_tests", Path(__file__).with_name("test_timeline_html.py")
    )
    assert spec is not None
    assert spec.loader is not None
    timeline_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(timeline_tests)
    CHROMIUM, DevTools = timeline_tests.CHROMIUM, timeline_tests.DevTools

    if shutil.which(str(CHROMIUM)) is None:
        pytest.skip("headless Chromium is not installed at /usr/bin/chromium (apt: chromium)")
    traces = asyncio.run(_traces(tmp_path))
    page_path = write_timeline(traces, tmp_path / "timeline.html")
    browser = DevTools(tmp_path)
    try:
        browser.open(page_path.as_uri())
        browser.wait_for("document.body && document.body.dataset.ready")
        out = browser.evaluate(UNFOLD)
    finally:
        browser.close()

    wrappers = ["draft-cache", "first-step", "again", "deadline", "calls"]
    assert not set(wrappers) & set(out["folded"])
    assert out["folded"].count("chat local") == 2
    assert len(out["unfolded"]) == len(out["folded"]) + 5
    assert [name for name in out["unfolded"] if name in wrappers] == wrappers
    assert out["pressed"] == "true"
    assert out["rootCollapsed"] == ["triage"]
    assert out["rootExpanded"] == out["unfolded"], "an unfolded chain stays unfolded"
    assert out["refolded"] == out["folded"]
