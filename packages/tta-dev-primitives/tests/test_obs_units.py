"""Every metric with a unit declares it, so the OpenMetrics exposition has `# UNIT` lines."""

from __future__ import annotations

import importlib

from prometheus_client import REGISTRY, generate_latest
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from tta_dev_primitives.observability.catalogue import METRIC_MODULES
from tta_dev_primitives.observability.metrics import METRICS, register_metrics


def _all_metrics_registered() -> None:
    for module in METRIC_MODULES:
        importlib.import_module(module)
    register_metrics()


def test_openmetrics_output_has_a_unit_line_for_every_metric_with_a_unit() -> None:
    _all_metrics_registered()
    text = generate_openmetrics(REGISTRY).decode()
    with_unit = [spec for spec in METRICS if spec.unit != "1"]
    assert with_unit  # seconds and dollars at least
    for spec in with_unit:
        family = spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name
        assert f"# UNIT {family} {spec.unit}\n" in text, spec.name
    for spec in METRICS:
        if spec.unit == "1":
            family = spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name
            assert f"# UNIT {family} " not in text, spec.name


def test_declaring_the_unit_keeps_every_metric_name() -> None:
    _all_metrics_registered()
    text = generate_latest(REGISTRY).decode()
    for spec in METRICS:
        assert f"# TYPE {spec.name.removesuffix('_total')} " in text or (
            f"# TYPE {spec.name} " in text
        ), spec.name
