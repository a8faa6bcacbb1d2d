"""``observability.setup()``: configuration, idempotence, exit flush, OTLP, logs.

``setup`` sets the process-wide tracer provider, which OpenTelemetry allows once per
process, so each scenario runs in a fresh interpreter and the test checks what it
left behind: span files, what an OTLP receiver got, stderr.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tta_dev_primitives.observability.config import resolve_config
from tta_dev_primitives.observability.otlp_json import read_span_line

WORKFLOW = """
import asyncio
from tta_dev_primitives import LambdaPrimitive, SequentialPrimitive, WorkflowContext
from tta_dev_primitives.observability import setup

async def step(x):
    return x + 1

def workflow(name="root"):
    return SequentialPrimitive(
        [LambdaPrimitive(step, name="first"), LambdaPrimitive(step, name="second")], name=name
    )

def run(name="root", correlation_id="corr-1"):
    return asyncio.run(workflow(name).execute(0, WorkflowContext(correlation_id=correlation_id)))
"""


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "TTA_")) and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["TTA_HOME"] = str(tmp_path / "home")
    env.update(extra)
    return env


def run_script(tmp_path: Path, body: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "scenario.py"
    script.write_text(WORKFLOW + textwrap.dedent(body))
    done = subprocess.run(
        [sys.executable, str(script)],
        env=clean_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def span_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [span for line in path.read_text().splitlines() for span in read_span_line(line)]


def test_the_default_is_the_jsonl_file_under_tta_home_flushed_at_exit(tmp_path: Path) -> None:
    # No shutdown() call: the spans still sit in the batch processor's queue when the
    # script ends, and must reach the file through the exit hook.
    run_script(
        tmp_path,
        """
        setup()
        for i in range(50):
            run(f"wf-{i}")
        """,
    )
    spans = span_lines(tmp_path / "home" / "traces" / "spans.jsonl")
    assert len(spans) == 150
    assert {s["resource"]["service.name"] for s in spans} == {"tta-app"}
    assert sum(1 for s in spans if s["parent_span_id"] is None) == 50


def test_calling_setup_twice_with_the_same_config_changes_nothing(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        import logging
        first = setup(service_name="svc")
        second = setup(service_name="svc")
        print(first is second, len(first.tracer_provider._active_span_processor._span_processors))
        factory = logging.getLogRecordFactory()
        setup(service_name="svc")
        print(logging.getLogRecordFactory() is factory)
        run()
        """,
    )
    assert done.stdout.split() == ["True", "1", "True"]
    spans = span_lines(tmp_path / "home" / "traces" / "spans.jsonl")
    assert sorted(s["name"] for s in spans) == ["first", "root", "second"]


def test_a_second_call_with_another_config_reconfigures_cleanly(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        f"""
        setup(jsonl_path={str(tmp_path / "a.jsonl")!r}, service_name="one")
        run("before")
        setup(jsonl_path={str(tmp_path / "b.jsonl")!r}, service_name="two")
        run("after")
        """,
    )
    before = span_lines(tmp_path / "a.jsonl")
    after = span_lines(tmp_path / "b.jsonl")
    assert {s["name"] for s in before} == {"before", "first", "second"}
    assert {s["name"] for s in after} == {"after", "first", "second"}
    # The resource is fixed by the first call, and the second call says so.
    assert {s["resource"]["service.name"] for s in after} == {"one"}
    assert "service name stays 'one'" in done.stderr


def test_shutdown_then_setup_again_exports_again(tmp_path: Path) -> None:
    run_script(
        tmp_path,
        f"""
        handle = setup(jsonl_path={str(tmp_path / "s.jsonl")!r})
        run("one")
        handle.shutdown()
        handle.shutdown()
        run("lost")
        setup(jsonl_path={str(tmp_path / "s.jsonl")!r})
        run("two")
        """,
    )
    roots = [s["name"] for s in span_lines(tmp_path / "s.jsonl") if s["parent_span_id"] is None]
    assert roots == ["one", "two"]


def test_otel_sdk_disabled_leaves_tracing_off(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        from tta_dev_primitives.observability import active_tracer
        handle = setup()
        run()
        print(handle.tracer_provider, active_tracer())
        """,
        OTEL_SDK_DISABLED="true",
    )
    assert done.stdout.split() == ["None", "None"]
    assert not (tmp_path / "home" / "traces").exists()


def test_console_exporter_from_the_environment_prints_spans(tmp_path: Path) -> None:
    done = run_script(tmp_path, "setup()\nrun()\n", OTEL_TRACES_EXPORTER="console")
    assert '"name": "second"' in done.stdout
    assert not (tmp_path / "home" / "traces").exists()


def test_exporter_none_writes_nothing_but_spans_are_still_made(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        from tta_dev_primitives.observability import active_tracer
        setup()
        run()
        print(active_tracer() is not None)
        """,
        OTEL_TRACES_EXPORTER="none",
    )
    assert done.stdout.strip() == "True"
    assert not (tmp_path / "home" / "traces").exists()


# -- OTLP ---------------------------------------------------------------------------------


class OTLPReceiver:
    """A loopback OTLP/HTTP trace receiver: decodes each POST /v1/traces it gets."""

    def __init__(self) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.requests.append(request)
                receiver.headers.append(dict(self.headers))
                payload = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """(resource attributes, span) for every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found += [(resource, span) for span in scope_spans.spans]
        return found

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    running = OTLPReceiver()
    yield running
    running.stop()


def attributes(span: Any) -> dict[str, Any]:
    values = {}
    for kv in span.attributes:
        kind = kv.value.WhichOneof("value")
        values[kv.key] = getattr(kv.value, kind)
    return values


def test_otlp_export_from_the_standard_environment(tmp_path: Path, receiver: OTLPReceiver) -> None:
    run_script(
        tmp_path,
        "setup()\nrun(correlation_id='corr-otlp')\n",
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_HEADERS="x-tenant=acme",
        OTEL_SERVICE_NAME="otlp-test",
    )
    received = receiver.spans()
    by_name = {span.name: span for _, span in received}
    assert set(by_name) == {"root", "first", "second"}
    assert {resource["service.name"] for resource, _ in received} == {"otlp-test"}
    root, first, second = by_name["root"], by_name["first"], by_name["second"]
    assert root.parent_span_id == b""
    assert first.parent_span_id == root.span_id
    assert second.parent_span_id == root.span_id
    assert len({root.trace_id, first.trace_id, second.trace_id}) == 1
    assert attributes(first)["tta.correlation_id"] == "corr-otlp"
    assert attributes(first)["tta.primitive.type"] == "LambdaPrimitive"
    assert attributes(root)["tta.outcome"] == "success"
    assert receiver.headers[0].get("x-tenant") == "acme"


def test_otlp_and_jsonl_together_from_arguments(tmp_path: Path, receiver: OTLPReceiver) -> None:
    run_script(
        tmp_path,
        f"""
        setup(exporter="otlp,jsonl", otlp_endpoint={receiver.endpoint + "/"!r})
        run()
        """,
    )
    assert sorted(span.name for _, span in receiver.spans()) == ["first", "root", "second"]
    assert len(span_lines(tmp_path / "home" / "traces" / "spans.jsonl")) == 3


# -- logs and metrics through setup ---------------------------------------------------------


def test_json_logs_carry_the_ids_of_the_span_they_were_written_in(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        import logging
        from tta_dev_primitives import LambdaPrimitive

        async def noisy(x):
            logging.getLogger("app.step").info("working on %s", x)
            return x

        setup(log_format="json")
        noisy_step = LambdaPrimitive(noisy, name="noisy")
        asyncio.run(noisy_step.execute(7, WorkflowContext(correlation_id="c-42")))
        logging.getLogger("app").warning("outside")
        """,
    )
    inside, outside = (json.loads(line) for line in done.stderr.splitlines())
    (span,) = span_lines(tmp_path / "home" / "traces" / "spans.jsonl")
    assert inside["message"] == "working on 7"
    assert inside["logger"] == "app.step"
    assert inside["level"] == "INFO"
    assert inside["trace_id"] == span["trace_id"]
    assert inside["span_id"] == span["span_id"]
    assert inside["correlation_id"] == "c-42"
    assert outside["trace_id"] is None
    assert outside["correlation_id"] is None


def test_setup_starts_the_metrics_server_when_asked(tmp_path: Path) -> None:
    done = run_script(
        tmp_path,
        """
        import urllib.request
        handle = setup(metrics_port=0, exporter="none")
        run()
        again = setup(metrics_port=0, exporter="none")
        assert again.metrics_server is handle.metrics_server
        with urllib.request.urlopen(handle.metrics_server.url) as response:
            print(response.read().decode())
        handle.shutdown()
        print("running after shutdown:", handle.metrics_server)
        """,
    )
    assert 'tta_primitive_duration_seconds_count{outcome="success",primitive="first"' in done.stdout
    assert "running after shutdown: None" in done.stdout


# -- configuration, in process ---------------------------------------------------------------


def test_config_defaults_and_environment() -> None:
    default = resolve_config(environ={})
    assert default.exporters == ("jsonl",)
    assert default.jsonl_path == Path("~/.tta/traces/spans.jsonl").expanduser()
    assert default.metrics_port is None
    assert default.service_name == "tta-app"

    from_env = resolve_config(
        environ={
            "OTEL_TRACES_EXPORTER": "otlp, console",
            "OTEL_SERVICE_NAME": "svc",
            "TTA_HOME": "/srv/tta",
            "TTA_METRICS_PORT": "9464",
            "TTA_LOG_FORMAT": "JSON",
        }
    )
    assert from_env.exporters == ("otlp", "console")
    assert from_env.service_name == "svc"
    assert from_env.jsonl_path == Path("/srv/tta/traces/spans.jsonl")
    assert from_env.metrics_port == 9464
    assert from_env.log_format == "json"

    argued = resolve_config(
        exporter="none", service_name="arg", otlp_endpoint="http://c:4318/", environ={}
    )
    assert argued.exporters == ()
    assert argued.service_name == "arg"
    assert argued.otlp_endpoint == "http://c:4318/v1/traces"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "unknown trace exporter"),
        ({"TTA_METRICS_PORT": "http"}, "TTA_METRICS_PORT='http' is not a port"),
        ({"TTA_METRICS_PORT": "70000"}, "is not a port"),
        ({"TTA_LOG_FORMAT": "xml"}, "TTA_LOG_FORMAT"),
        (
            {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "http/protobuf",
        ),
    ],
)
def test_bad_configuration_names_what_to_fix(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_config(environ=environ)


def test_the_config_repr_shows_header_names_not_values() -> None:
    config = resolve_config(otlp_headers={"authorization": "Bearer s3cr3t-token"}, environ={})
    assert "s3cr3t" not in repr(config)
    assert "authorization" in repr(config)
