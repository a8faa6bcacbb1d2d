from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tta_dev_primitives import (
    FallbackPrimitive,
    ParallelPrimitive,
    RetryPrimitive,
    SequentialPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.observability.span_file import span_to_dict
from tta_dev_primitives.observability.trace_view import (
    SpanRecord,
    build_traces,
    default_span_files,
    format_cost,
    format_duration,
    load_traces,
    read_spans,
    span_files,
    trace_to_dict,
)
from tta_dev_primitives.testing import FakeClock, FunctionPrimitive, capture_spans

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def write_spans(path: Path, lines: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        for line in lines:
            out.write(line if isinstance(line, str) else json.dumps(line))
            out.write("\n")
    return path


def span(
    span_id: str,
    parent: str | None = None,
    *,
    name: str | None = None,
    start: int = 1_000,
    end: int = 2_000,
    trace_id: str = TRACE,
    **attributes: Any,
) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name or f"step-{span_id}",
        "kind": "INTERNAL",
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "status": {"code": "UNSET", "description": None},
        "attributes": {k.replace("__", "."): v for k, v in attributes.items()},
        "events": [],
        "resource": {"service.name": "test"},
    }


def outline(trace: Any) -> list[str]:
    return ["  " * depth + node.span.name for depth, node in trace.walk()]


async def test_real_primitive_spans_read_back_as_the_same_tree(tmp_path: Path) -> None:
    ctx = WorkflowContext(workflow_id="wf")
    clock = FakeClock()
    flaky = FunctionPrimitive.scripted([RuntimeError("flaky"), "ok"], name="flaky")
    workflow = SequentialPrimitive(
        [
            FunctionPrimitive(lambda x: x, name="classify"),
            ParallelPrimitive(
                [RetryPrimitive(flaky, sleep=clock.sleep, name="retry"), FunctionPrimitive(str)],
                name="fan",
            ),
        ],
        name="support-flow",
    )
    with capture_spans() as captured:
        await workflow.execute("hi", ctx)
    path = write_spans(tmp_path / "spans.jsonl", [span_to_dict(s) for s in captured.spans])

    traces, read = load_traces([path])

    assert read.skipped_lines == 0
    assert len(traces) == 1
    trace = traces[0]
    assert outline(trace) == captured.tree()
    assert trace.name == "support-flow"
    assert trace.outcome == "success"
    assert not trace.partial
    nodes = {node.span.name: node.span for _, node in trace.walk()}
    assert nodes["support-flow"].primitive_type == "SequentialPrimitive"
    assert nodes["retry"].primitive_type == "RetryPrimitive"
    attempts = [s for s in trace.spans if s.name == "flaky"]
    assert sorted(s.outcome for s in attempts) == ["error", "success"]
    assert sorted(s.attributes["tta.attempt"] for s in attempts) == [1, 2]
    assert trace.error_count == 1
    root = trace.roots[0].span
    assert trace.duration_ns == root.duration_ns > 0


async def test_a_failed_workflow_reports_error_and_the_status_description(tmp_path: Path) -> None:
    def boom(_: str) -> str:
        raise ValueError("the database is down")

    workflow = FallbackPrimitive(
        FunctionPrimitive(boom, name="primary"), [FunctionPrimitive(boom)], name="guarded"
    )
    with capture_spans() as captured, pytest.raises(Exception, match="failed"):
        await workflow.execute("x", WorkflowContext())
    path = write_spans(tmp_path / "spans.jsonl", [span_to_dict(s) for s in captured.spans])

    (trace,), _ = load_traces([path])

    assert trace.outcome == "error"
    primary = next(s for s in trace.spans if s.name == "primary")
    assert primary.outcome == "error"
    assert primary.status_code == "ERROR"
    assert "the database is down" in (primary.status_description or "")
    assert [e["name"] for e in primary.events] == ["exception"]


def test_a_span_whose_parent_is_missing_is_a_root_and_the_trace_is_partial(
    tmp_path: Path,
) -> None:
    path = write_spans(
        tmp_path / "spans.jsonl",
        [
            span("b1", "a0-never-written", start=10, end=50),
            span("c1", "b1", start=20, end=30),
            span("d1", None, start=5, end=60, trace_id="f" * 32),
        ],
    )

    traces, _ = load_traces([path])

    crashed = next(t for t in traces if t.trace_id == TRACE)
    assert crashed.partial
    assert outline(crashed) == ["step-b1", "  step-c1"]
    assert crashed.roots[0].orphan
    whole = next(t for t in traces if t.trace_id != TRACE)
    assert not whole.partial


def test_spans_that_only_point_at_each_other_are_still_shown(tmp_path: Path) -> None:
    path = write_spans(
        tmp_path / "spans.jsonl",
        [
            span("a", "b", start=1, end=9),
            span("b", "a", start=2, end=8),
            span("self", "self", start=3, end=4),
            span("kid", "a", start=5, end=6),
        ],
    )

    (trace,), _ = load_traces([path])

    assert sorted(s.name for _, n in trace.walk() for s in [n.span]) == sorted(
        ["step-a", "step-b", "step-self", "step-kid"]
    )
    assert len(list(trace.walk())) == 4


def test_corrupt_lines_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    write_spans(
        path,
        [
            span("a1"),
            "{not json",
            "[1, 2, 3]",
            json.dumps({"trace_id": TRACE, "span_id": "x"}),
            json.dumps({**span("b1"), "start_time_unix_nano": True}),
            json.dumps({**span("b2"), "name": ""}),
            json.dumps({**span("b3"), "end_time_unix_nano": "2000"}),
            "",
            "   ",
            "[" * 100_000,
        ],
    )
    with path.open("ab") as out:
        out.write(b'{"name": "\xff\xfe"}\n')
    write_spans(path, [span("a2", "a1")])

    read = read_spans([path])

    assert sorted(s.span_id for s in read.spans) == ["a1", "a2"]
    assert read.skipped_lines == 8
    assert read.files == [path]


def test_odd_but_valid_fields_are_tolerated() -> None:
    line = {
        **span("a", start=500, end=100),
        "status": "bogus",
        "attributes": ["not", "a", "dict"],
        "events": [{"name": "ok"}, "junk"],
        "kind": None,
        "parent_span_id": "",
    }
    record = SpanRecord.from_json(line)
    assert record.duration_ns == 0
    assert record.status_code == "UNSET"
    assert record.attributes == {}
    assert record.events == [{"name": "ok"}]
    assert record.kind == "INTERNAL"
    assert record.parent_span_id is None


def test_non_finite_numbers_are_kept_as_text(tmp_path: Path) -> None:
    path = tmp_path / "spans.jsonl"
    raw = json.dumps(span("a", tta__budget__left_usd=float("inf"), tta__llm__cost_usd=float("nan")))
    assert "Infinity" in raw
    write_spans(path, [raw])

    (record,) = read_spans([path]).spans

    assert record.attributes["tta.budget.left_usd"] == "Infinity"
    assert record.cost_usd is None
    json.dumps(trace_to_dict(build_traces([record])[0]), allow_nan=False)


def test_the_rotated_file_is_read_first_and_a_split_trace_is_joined(tmp_path: Path) -> None:
    current = tmp_path / "spans.jsonl"
    write_spans(tmp_path / "spans.jsonl.2", [span("old", start=1, end=2, trace_id="0" * 32)])
    write_spans(tmp_path / "spans.jsonl.1", [span("kid", "root", start=20, end=30)])
    write_spans(current, [span("root", start=10, end=40)])
    (tmp_path / "spans.jsonl.tmp").write_text("garbage\n")

    files = span_files(current)
    traces, read = load_traces(files)

    assert files == [tmp_path / n for n in ("spans.jsonl.2", "spans.jsonl.1", "spans.jsonl")]
    assert read.skipped_lines == 0
    assert outline(traces[0]) == ["step-root", "  step-kid"]
    assert not traces[0].partial
    assert [t.trace_id for t in traces] == [TRACE, "0" * 32]


def test_a_span_written_twice_keeps_its_last_copy(tmp_path: Path) -> None:
    path = write_spans(
        tmp_path / "spans.jsonl", [span("a", name="first"), span("a", name="second")]
    )
    (record,) = read_spans([path]).spans
    assert record.name == "second"


def test_missing_files_are_skipped(tmp_path: Path) -> None:
    read = read_spans([tmp_path / "nope.jsonl", tmp_path])
    assert read.spans == []
    assert read.files == []
    assert span_files(tmp_path / "absent" / "spans.jsonl") == [tmp_path / "absent" / "spans.jsonl"]


def test_default_files_live_under_tta_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_span_files({"TTA_HOME": str(tmp_path)}) == [tmp_path / "traces/spans.jsonl"]
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_span_files({}) == [tmp_path / "home/.tta/traces/spans.jsonl"]
    monkeypatch.delenv("TTA_TRACES_FILE", raising=False)
    monkeypatch.setenv("TTA_HOME", str(tmp_path / "env"))
    assert default_span_files() == [tmp_path / "env/traces/spans.jsonl"]


def test_the_viewer_reads_the_file_setup_writes_when_it_is_moved(tmp_path: Path) -> None:
    from tta_dev_primitives.observability.config import resolve_config

    env = {"TTA_HOME": str(tmp_path), "TTA_TRACES_FILE": str(tmp_path / "elsewhere.jsonl")}
    assert default_span_files(env) == [tmp_path / "elsewhere.jsonl"]
    assert resolve_config(environ=env).jsonl_path == tmp_path / "elsewhere.jsonl"


def test_traces_come_newest_first_with_limit_and_id_prefix(tmp_path: Path) -> None:
    ids = [f"{n:x}" * 32 for n in range(1, 6)]
    lines = [span("r", start=n * 1000, end=n * 1000 + 5, trace_id=t) for n, t in enumerate(ids)]
    path = write_spans(tmp_path / "spans.jsonl", lines)

    newest, _ = load_traces([path], limit=2)
    assert [t.trace_id for t in newest] == [ids[4], ids[3]]
    (found,), _ = load_traces([path], trace_id=ids[2][:6].upper())
    assert found.trace_id == ids[2]
    assert load_traces([path], trace_id="nothing")[0] == []
    assert load_traces([path], limit=0)[0] == []


def test_llm_attributes_give_model_tokens_and_cost() -> None:
    llm = {
        "gen_ai.request.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 45,
        "tta.llm.model": "gpt-4o-mini",
        "tta.llm.cost_usd": 0.000045,
        "tta.llm.cost_estimated": False,
    }
    records = [
        SpanRecord.from_json(span("root", start=0, end=100)),
        SpanRecord.from_json(
            span("route", "root", start=1, end=90, tta__routing__chosen="local-smol")
        ),
        SpanRecord.from_json({**span("c1", "route", start=2, end=40), "attributes": llm}),
        SpanRecord.from_json(
            {
                **span("c2", "route", start=41, end=80),
                "attributes": {
                    "gen_ai.request.model": "smollm2",
                    "gen_ai.usage.input_tokens": 10,
                    "gen_ai.usage.output_tokens": 5.0,
                    "tta.llm.cost_usd": 0.001,
                    "tta.llm.cost_estimated": True,
                },
            }
        ),
    ]
    (trace,) = build_traces(records)
    by_id = {s.span_id: s for s in trace.spans}

    assert by_id["c1"].model == "gpt-4o-mini"
    assert by_id["c2"].model == "smollm2"
    assert by_id["route"].model == "local-smol"
    assert by_id["root"].model is None
    assert (by_id["c1"].input_tokens, by_id["c1"].output_tokens) == (120, 45)
    assert by_id["c2"].output_tokens == 5
    assert by_id["root"].input_tokens is None
    assert by_id["c2"].cost_estimated
    assert not by_id["c1"].cost_estimated
    assert (trace.input_tokens, trace.output_tokens) == (130, 50)
    assert trace.cost_usd == pytest.approx(0.001045)
    assert trace.cost_estimated
    assert trace.models == ["local-smol", "gpt-4o-mini", "smollm2"]


def test_outcome_comes_from_the_attribute_then_the_status() -> None:
    base = span("a")
    assert SpanRecord.from_json(base).outcome == "success"
    failed = {**base, "status": {"code": "ERROR", "description": "x"}}
    assert SpanRecord.from_json(failed).outcome == "error"
    cancelled = {**base, "attributes": {"tta.outcome": "cancelled"}}
    assert SpanRecord.from_json(cancelled).outcome == "cancelled"


def test_trace_to_dict_is_flat_depth_first_json(tmp_path: Path) -> None:
    path = write_spans(
        tmp_path / "spans.jsonl",
        [span("r", start=0, end=100), span("b", "r", start=50, end=60), span("a", "r", start=10)],
    )
    (trace,), _ = load_traces([path])

    data = json.loads(json.dumps(trace_to_dict(trace)))

    assert [(s["depth"], s["span_id"]) for s in data["spans"]] == [(0, "r"), (1, "a"), (1, "b")]
    assert data["span_count"] == 3
    assert data["name"] == "step-r"
    assert data["spans"][1]["parent_span_id"] == "r"


def test_a_very_deep_chain_does_not_exhaust_the_stack(tmp_path: Path) -> None:
    depth = 5_000
    lines = [span("s0", start=0, end=depth * 2)]
    lines += [span(f"s{i}", f"s{i - 1}", start=i, end=depth * 2 - i) for i in range(1, depth)]
    path = write_spans(tmp_path / "spans.jsonl", lines)

    (trace,), _ = load_traces([path])

    assert max(d for d, _ in trace.walk()) == depth - 1
    assert len(trace_to_dict(trace)["spans"]) == depth


@pytest.mark.parametrize(
    ("nanoseconds", "text"),
    [
        (0, "0 µs"),
        (850_000, "850 µs"),
        (12_345_678, "12.3 ms"),
        (250_000_000, "250 ms"),
        (1_240_000_000, "1.24 s"),
        (125_000_000_000, "2m 05s"),
    ],
)
def test_format_duration(nanoseconds: int, text: str) -> None:
    assert format_duration(nanoseconds) == text


def test_format_cost() -> None:
    assert format_cost(0) == "$0"
    assert format_cost(0.000045) == "$0.000045"
    assert format_cost(0.0021) == "$0.0021"
    assert format_cost(12.345) == "$12.35"
    assert format_cost(0.5, estimated=True) == "~$0.5"
