"""OpenTelemetry's own variables: service name precedence and the Prometheus exporter's.

OTel's order for ``service.name`` is ``OTEL_SERVICE_NAME``, then the ``service.name``
of ``OTEL_RESOURCE_ATTRIBUTES``, then the default; an argument to ``setup()`` comes
before all of them. ``OTEL_EXPORTER_PROMETHEUS_HOST``/``_PORT`` work as TTA.dev's own
``TTA_METRICS_ADDR``/``_PORT`` (which win when both are set).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tta_dev_primitives.observability.config import resolve_config
from tta_dev_primitives.observability.otlp_json import read_span_line


@pytest.mark.parametrize(
    ("argument", "environ", "expected"),
    [
        (None, {}, "tta-app"),
        (None, {"OTEL_RESOURCE_ATTRIBUTES": "service.name=billing"}, "billing"),
        (
            None,
            {"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod, service.name = my%20svc"},
            "my svc",
        ),
        (
            None,
            {"OTEL_SERVICE_NAME": "named", "OTEL_RESOURCE_ATTRIBUTES": "service.name=billing"},
            "named",
        ),
        ("arg", {"OTEL_SERVICE_NAME": "named"}, "arg"),
        (None, {"OTEL_RESOURCE_ATTRIBUTES": "service.version=2,service.name="}, "tta-app"),
        (None, {"OTEL_RESOURCE_ATTRIBUTES": "garbage"}, "tta-app"),
    ],
)
def test_service_name_precedence(
    argument: str | None, environ: dict[str, str], expected: str
) -> None:
    assert resolve_config(service_name=argument, environ=environ).service_name == expected


def test_resource_attributes_reach_the_span_file(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from tta_dev_primitives import LambdaPrimitive, WorkflowContext
        from tta_dev_primitives.observability import setup

        async def step(x):
            return x

        handle = setup()
        asyncio.run(LambdaPrimitive(step, name="one").execute(1, WorkflowContext()))
        handle.shutdown()
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "TTA_"))}
    env.update(
        TTA_HOME=str(tmp_path),
        OTEL_RESOURCE_ATTRIBUTES="service.name=billing,deployment.environment=prod",
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "traces" / "spans.jsonl").read_text(encoding="utf-8")
    (span,) = [span for line in text.splitlines() for span in read_span_line(line)]
    assert span["resource"]["service.name"] == "billing"
    assert span["resource"]["deployment.environment"] == "prod"
    assert json.loads(text)["resourceSpans"][0]["scopeSpans"][0]["scope"]["name"]


@pytest.mark.parametrize(
    ("environ", "port", "addr"),
    [
        ({"OTEL_EXPORTER_PROMETHEUS_PORT": "9464"}, 9464, "127.0.0.1"),
        ({"OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0"}, None, "0.0.0.0"),
        (
            {"OTEL_EXPORTER_PROMETHEUS_PORT": "9464", "OTEL_EXPORTER_PROMETHEUS_HOST": "::1"},
            9464,
            "::1",
        ),
        (
            {
                "OTEL_EXPORTER_PROMETHEUS_PORT": "9464",
                "TTA_METRICS_PORT": "9100",
                "OTEL_EXPORTER_PROMETHEUS_HOST": "::1",
                "TTA_METRICS_ADDR": "127.0.0.2",
            },
            9100,
            "127.0.0.2",
        ),
    ],
)
def test_prometheus_exporter_variables(
    environ: dict[str, str], port: int | None, addr: str
) -> None:
    config = resolve_config(environ=environ)
    assert (config.metrics_port, config.metrics_addr) == (port, addr)


def test_a_bad_prometheus_port_names_the_variable() -> None:
    with pytest.raises(ValueError, match="OTEL_EXPORTER_PROMETHEUS_PORT='x' is not a port"):
        resolve_config(environ={"OTEL_EXPORTER_PROMETHEUS_PORT": "x"})
