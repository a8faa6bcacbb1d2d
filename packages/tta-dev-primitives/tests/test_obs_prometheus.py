"""The ``/metrics`` endpoint, scraped over HTTP: formats, values, exemplars, workers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families

from tta_dev_primitives import LambdaPrimitive, WorkflowContext
from tta_dev_primitives.observability import MetricsServer, start_metrics_server
from tta_dev_primitives.testing import capture_spans

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    with start_metrics_server(0) as running:
        yield running


def samples(text: str, name: str, **labels: str) -> list[float]:
    return [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    ]


async def scrape(url: str, accept: str | None = None) -> httpx.Response:
    headers = {"Accept": accept} if accept else {}
    async with httpx.AsyncClient() as client:
        return await client.get(url, headers=headers)


async def ok(x: int) -> int:
    return x


async def fail(x: int) -> int:
    raise ValueError("no")


async def test_a_scrape_shows_the_counts_of_a_known_workload(server: MetricsServer) -> None:
    good = LambdaPrimitive(ok, name="scrape_good")
    bad = LambdaPrimitive(fail, name="scrape_bad")
    ctx = WorkflowContext()
    for i in range(7):
        await good.execute(i, ctx)
    for i in range(3):
        with pytest.raises(ValueError, match="no"):
            await bad.execute(i, ctx)

    response = await scrape(server.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = response.text
    count = "tta_primitive_duration_seconds_count"
    assert samples(text, count, primitive="scrape_good", outcome="success") == [7.0]
    assert samples(text, count, primitive="scrape_bad", outcome="error") == [3.0]
    assert samples(text, count, primitive="scrape_good", outcome="error") == [0.0]
    (total,) = samples(text, "tta_primitive_duration_seconds_sum", primitive="scrape_good",
                       outcome="success")  # fmt: skip
    assert 0 < total < 1
    # Buckets are cumulative and end with +Inf == count.
    buckets = samples(text, "tta_primitive_duration_seconds_bucket", primitive="scrape_good",
                      outcome="success")  # fmt: skip
    assert buckets == sorted(buckets)
    assert buckets[-1] == 7.0
    # Every catalogued family is there before anything used it, plus the process metrics.
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"tta_circuit_breaker_state", "tta_cache_hits", "python_info"} <= names
    assert "process_cpu_seconds" in names


async def test_openmetrics_on_request_with_trace_exemplars(server: MetricsServer) -> None:
    step = LambdaPrimitive(ok, name="exemplar_step")
    with capture_spans() as spans:
        await step.execute(1, WorkflowContext())
    span_context = spans.one("exemplar_step").get_span_context()

    response = await scrape(server.url, OPENMETRICS)
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    exemplars = [
        sample.exemplar
        for family in parse_openmetrics(response.text)
        for sample in family.samples
        if sample.labels.get("primitive") == "exemplar_step" and sample.exemplar is not None
    ]
    assert len(exemplars) == 1
    assert exemplars[0].labels == {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
    }


async def test_exemplars_are_attached_at_most_once_a_second_per_primitive(
    server: MetricsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tta_dev_primitives.core import base

    step = LambdaPrimitive(ok, name="busy_step")
    with capture_spans() as spans:
        for _ in range(5):
            await step.execute(1, WorkflowContext())
    first, *_, last = spans.named("busy_step")

    def exemplar_ids() -> set[str]:
        return {
            sample.exemplar.labels["span_id"]
            for family in parse_openmetrics(scraped.text)
            for sample in family.samples
            if sample.labels.get("primitive") == "busy_step" and sample.exemplar is not None
        }

    scraped = await scrape(server.url, OPENMETRICS)
    assert exemplar_ids() == {format(first.get_span_context().span_id, "016x")}
    # Once the interval has passed, the next traced execution links its trace again.
    monkeypatch.setattr(base, "EXEMPLAR_INTERVAL_S", 0.0)
    step._metrics.next_exemplar = 0.0  # type: ignore[union-attr]
    with capture_spans() as spans:
        await step.execute(1, WorkflowContext())
    scraped = await scrape(server.url, OPENMETRICS)
    # Exemplars are kept per bucket: the new one joins (or replaces) the first.
    assert format(spans.one("busy_step").get_span_context().span_id, "016x") in exemplar_ids()
    assert format(last.get_span_context().span_id, "016x") not in exemplar_ids()


async def test_no_exemplar_without_tracing(server: MetricsServer) -> None:
    await LambdaPrimitive(ok, name="untraced_step").execute(1, WorkflowContext())
    response = await scrape(server.url, OPENMETRICS)
    found = [
        sample
        for family in parse_openmetrics(response.text)
        for sample in family.samples
        if sample.labels.get("primitive") == "untraced_step"
    ]
    assert found
    assert all(sample.exemplar is None for sample in found)


def test_stop_releases_the_port_and_a_taken_port_is_an_error() -> None:
    first = start_metrics_server(0)
    port = first.port
    assert first.url == f"http://127.0.0.1:{port}/metrics"
    with pytest.raises(OSError):  # noqa: PT011 - the OS words it
        start_metrics_server(port)
    first.stop()
    first.stop()
    assert not first.running
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_a_missing_multiprocess_directory_is_explained(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="PROMETHEUS_MULTIPROC_DIR"):
        start_metrics_server(0, multiprocess_dir=str(tmp_path / "absent"))


WORKER = textwrap.dedent(
    """
    import asyncio, sys
    from tta_dev_primitives import LambdaPrimitive, WorkflowContext

    async def ok(x):
        return x

    async def main(count):
        step = LambdaPrimitive(ok, name="worker_step")
        for i in range(count):
            await step.execute(i, WorkflowContext())

    asyncio.run(main(int(sys.argv[1])))
    """
)


def test_multiprocess_mode_sums_the_workers(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "prom"
    metrics_dir.mkdir()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    workers = [
        subprocess.Popen([sys.executable, str(script), str(count)], env=env)
        for count in (10, 20, 30)
    ]
    assert [w.wait(timeout=60) for w in workers] == [0, 0, 0]
    assert len(list(metrics_dir.glob("histogram_*.db"))) == 3

    with start_metrics_server(0, multiprocess_dir=str(metrics_dir)) as server:
        assert server.multiprocess_dir == str(metrics_dir)
        text = httpx.get(server.url).text
    count = "tta_primitive_duration_seconds_count"
    assert samples(text, count, primitive="worker_step", outcome="success") == [60.0]


# -- a real Prometheus scraping the endpoint ----------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.needs("prometheus")
def test_a_real_prometheus_scrapes_tta_metrics(server: MetricsServer, tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is not installed (Debian package `prometheus`)")
    step = LambdaPrimitive(ok, name="prometheus_scraped")

    async def workload() -> None:
        for i in range(5):
            await step.execute(i, WorkflowContext())

    asyncio.run(workload())

    config = tmp_path / "prometheus.yml"
    config.write_text(
        textwrap.dedent(
            f"""
            global:
              scrape_interval: 1s
            scrape_configs:
              - job_name: tta
                static_configs:
                  - targets: ["127.0.0.1:{server.port}"]
            """
        )
    )
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    query = 'tta_primitive_duration_seconds_count{primitive="prometheus_scraped",outcome="success"}'
    try:
        result: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        while not result and time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()}")
            try:
                answer = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/query", params={"query": query}, timeout=2
                ).json()
                result = answer["data"]["result"]
            except (httpx.HTTPError, json.JSONDecodeError, KeyError):
                pass
            if not result:
                time.sleep(0.5)
        assert result, "Prometheus did not report the TTA metric within 60 s"
        assert result[0]["value"][1] == "5"
        labels = result[0]["metric"]
        assert labels["job"] == "tta"
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
