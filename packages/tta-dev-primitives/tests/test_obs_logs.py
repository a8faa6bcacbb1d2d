"""Log correlation: real logging records carry the ids of the span and workflow."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from tta_dev_primitives import LambdaPrimitive, SequentialPrimitive, WorkflowContext
from tta_dev_primitives.observability import (
    CorrelationFilter,
    JsonLogFormatter,
    install_log_correlation,
    log_context,
)
from tta_dev_primitives.observability.logs import uninstall_log_correlation
from tta_dev_primitives.testing import capture_spans

log = logging.getLogger("tta.test.logs")


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def captured() -> Iterator[Captured]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter(extra_fields=("user_action",)))
    handler.addFilter(CorrelationFilter())
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield Captured(stream)
    log.removeHandler(handler)
    log.propagate = True


async def logged_step(x: int) -> int:
    log.info("step saw %d", x)
    return x


async def test_records_in_a_traced_primitive_carry_its_ids(captured: Captured) -> None:
    ctx = WorkflowContext(correlation_id="corr-traced")
    workflow = SequentialPrimitive(
        [LambdaPrimitive(logged_step, name="one"), LambdaPrimitive(logged_step, name="two")]
    )
    with capture_spans() as spans:
        await workflow.execute(5, ctx)

    first, second = captured.records()
    one, two = spans.one("one").get_span_context(), spans.one("two").get_span_context()
    assert first["message"] == "step saw 5"
    assert first["trace_id"] == format(one.trace_id, "032x")
    assert first["span_id"] == format(one.span_id, "016x")
    assert second["span_id"] == format(two.span_id, "016x")
    assert first["trace_id"] == second["trace_id"]
    assert first["correlation_id"] == second["correlation_id"] == "corr-traced"


async def test_log_context_supplies_the_correlation_id_without_tracing(
    captured: Captured,
) -> None:
    ctx = WorkflowContext(correlation_id="corr-untraced")
    with log_context(ctx):
        await LambdaPrimitive(logged_step).execute(1, ctx)
        with log_context("inner"):
            log.warning("nested")
        log.warning("back")
    log.warning("outside")

    inside, nested, back, outside = captured.records()
    assert inside["correlation_id"] == "corr-untraced"
    assert inside["trace_id"] is None
    assert inside["span_id"] is None
    assert nested["correlation_id"] == "inner"
    assert back["correlation_id"] == "corr-untraced"
    assert outside["correlation_id"] is None


def test_the_json_line_has_the_documented_keys_exception_and_extras(captured: Captured) -> None:
    try:
        raise RuntimeError("broken\nacross lines")
    except RuntimeError:
        log.exception("it failed: %s", "badly", extra={"user_action": "save"})
    log.debug("multi\nline message")

    failed, multi = captured.records()  # each record is exactly one line
    assert set(failed) == {
        "time", "level", "logger", "message", "exception", "trace_id", "span_id",
        "correlation_id", "user_action",
    }  # fmt: skip
    assert failed["level"] == "ERROR"
    assert failed["logger"] == "tta.test.logs"
    assert failed["message"] == "it failed: badly"
    assert "RuntimeError: broken" in failed["exception"]
    assert failed["user_action"] == "save"
    assert failed["time"].endswith("+00:00")
    assert multi["message"] == "multi\nline message"
    assert multi["exception"] is None


def test_installed_correlation_stamps_records_for_any_handler() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(correlation_id)s %(trace_id)s %(message)s"))
    plain = logging.getLogger("tta.test.plain")
    plain.addHandler(handler)
    plain.propagate = False
    install_log_correlation()
    install_log_correlation()
    try:
        with log_context("corr-any"):
            plain.warning("hello")
        uninstall_log_correlation()
        assert not hasattr(logging.LogRecord, "trace_id")
        factory_record = logging.getLogRecordFactory()("n", logging.INFO, "p", 1, "m", None, None)
        assert not hasattr(factory_record, "trace_id")
    finally:
        uninstall_log_correlation()
        plain.removeHandler(handler)
        plain.propagate = True
    assert stream.getvalue() == "corr-any None hello\n"
