"""The metric catalogue: bounded labels, the rendered document, and no ids in a scrape."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest

from tta_dev_primitives import (
    CachePrimitive,
    CircuitBreakerPrimitive,
    CircuitOpenError,
    FallbackPrimitive,
    LambdaPrimitive,
    RetryPrimitive,
    SequentialPrimitive,
    TimeoutPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.observability import METRICS, declare_metric
from tta_dev_primitives.observability.catalogue import (
    BOUNDED_LABELS,
    REGENERATE_COMMAND,
    render_markdown,
    unbounded_labels,
)
from tta_dev_primitives.observability.metrics import MetricSpec
from tta_dev_primitives.testing import FakeClock


def test_every_label_of_every_declared_metric_is_bounded() -> None:
    assert unbounded_labels(METRICS) == []
    for label in BOUNDED_LABELS:
        assert not label.endswith("_id")
        assert label not in {"user", "prompt", "task", "text", "message", "input", "query"}


def test_an_id_label_is_reported() -> None:
    spec = MetricSpec("tta_x_total", "counter", "1", ("primitive", "request_id"), "x")
    assert unbounded_labels([spec]) == [("tta_x_total", "request_id")]


def test_names_follow_the_prometheus_rules() -> None:
    for spec in METRICS:
        assert spec.name.startswith("tta_")
        if spec.kind == "counter":
            assert spec.name.endswith("_total"), spec.name
        if spec.unit == "seconds":
            assert spec.name.endswith(("_seconds", "_seconds_total")), spec.name
        if spec.kind == "histogram":
            assert list(spec.buckets) == sorted(spec.buckets)


def test_a_duplicate_or_misused_declaration_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        declare_metric("tta_primitive_retries_total", "counter", "again", ("primitive",))
    with pytest.raises(ValueError, match="gauges only"):
        declare_metric("tta_new_total", "counter", "x", (), multiprocess_mode="max")


def test_the_markdown_lists_every_metric_with_its_labels_and_buckets() -> None:
    text = render_markdown(METRICS)
    assert REGENERATE_COMMAND in text
    for spec in METRICS:
        (row,) = [line for line in text.splitlines() if line.startswith(f"| `{spec.name}` |")]
        assert f"| {spec.kind} |" in row
        for label in spec.labels:
            assert f"`{label}`" in row
    assert "- `tta_primitive_duration_seconds`: 5 us, 10 us," in text
    assert "- `tta_circuit_breaker_state`: livemax" in text
    assert "NOT BOUNDED" not in text


async def test_ids_and_free_text_never_become_label_values() -> None:
    secret_words = "please summarise my medical history"
    ids = {
        "workflow_id": "wf-7f3a9c0e",
        "correlation_id": "corr-51d2b8aa",
        "user": "user-alice-90210",
        "request": "req-33be1c07",
    }
    clock = FakeClock()

    async def echo(text: str) -> str:
        return text.upper()

    flaky_calls = 0

    async def flaky(text: str) -> str:
        nonlocal flaky_calls
        flaky_calls += 1
        if flaky_calls % 2:
            raise ConnectionError(f"upstream refused {text}")
        return text

    async def broken(text: str) -> str:
        raise RuntimeError(f"cannot handle {text}")

    breaker = CircuitBreakerPrimitive(
        LambdaPrimitive(broken, name="card_broken"), failure_threshold=1, clock=clock
    )
    workflow = SequentialPrimitive(
        [
            LambdaPrimitive(echo, name="card_echo"),
            CachePrimitive(LambdaPrimitive(echo, name="card_cached"), ttl_seconds=60, clock=clock),
            RetryPrimitive(
                LambdaPrimitive(flaky, name="card_flaky"), max_attempts=3, sleep=clock.sleep
            ),
            FallbackPrimitive(
                LambdaPrimitive(broken, name="card_primary"),
                [LambdaPrimitive(echo, name="card_backup")],
            ),
            TimeoutPrimitive(LambdaPrimitive(echo, name="card_timed"), 5),
        ],
        name="card_workflow",
    )
    for n in range(3):
        ctx = WorkflowContext(
            workflow_id=ids["workflow_id"],
            correlation_id=ids["correlation_id"],
            metadata={"user": ids["user"], "request": ids["request"]},
            tags={"user": ids["user"]},
        )
        await workflow.execute(f"{secret_words} {ids['request']} #{n}", ctx)
        for _ in range(2):
            with pytest.raises((RuntimeError, CircuitOpenError)):
                await breaker.execute(f"{secret_words} {ids['user']}", ctx)

    exposition = generate_latest(REGISTRY).decode()
    assert 'primitive="card_echo"' in exposition  # the workload did reach the registry
    for marker in [*ids.values(), "medical", "MEDICAL", "upstream", "cannot handle"]:
        assert marker not in exposition, f"{marker!r} leaked into the metrics"
