"""``tta metrics serve`` and ``tta metrics catalogue``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import typer
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from tta_dev_primitives.observability.catalogue import load_catalogue, render_markdown

MINI_APP = (
    "import typer\n"
    "from tta_cli.commands import metrics\n"
    "app = typer.Typer()\n"
    "metrics.register(app)\n"
    "app()\n"
)


@pytest.fixture
def app(app_with: Callable[..., typer.Typer]) -> typer.Typer:
    return app_with("metrics")


def test_catalogue_to_stdout_lists_core_and_llm_metrics(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["metrics", "catalogue"])
    assert result.exit_code == 0, result.output
    assert "| `tta_primitive_duration_seconds` | histogram |" in result.output
    assert "| `tta_llm_cost_usd_total` | counter | usd |" in result.output
    assert "| `tta_budget_remaining_usd` | gauge |" in result.output


def test_catalogue_writes_the_file_and_check_compares_it(app: typer.Typer, tmp_path: Path) -> None:
    target = tmp_path / "docs" / "METRICS.md"
    runner = CliRunner()
    written = runner.invoke(app, ["metrics", "catalogue", "--output", str(target)])
    assert written.exit_code == 0, written.output
    assert target.read_text() == render_markdown(load_catalogue())
    assert "metrics)" in written.output

    fresh = runner.invoke(app, ["metrics", "catalogue", "--output", str(target), "--check"])
    assert fresh.exit_code == 0
    assert "up to date" in fresh.output

    target.write_text(target.read_text().replace("tta_cache_hits_total", "tta_cache_hit"))
    stale = runner.invoke(app, ["metrics", "catalogue", "--output", str(target), "--check"])
    assert stale.exit_code == 1
    assert "is stale" in str(stale.exception)
    assert "tta metrics catalogue --output" in str(stale.exception)


def test_check_without_output_is_refused(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["metrics", "catalogue", "--check"])
    assert result.exit_code == 1
    assert "--check needs --output" in str(result.exception)


def test_serve_on_a_taken_port_says_so(app: typer.Typer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["metrics", "serve", "--port", str(port)])
    assert result.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in str(result.exception)


def test_serve_rejects_a_bad_port(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["metrics", "serve", "--port", "70000"])
    assert result.exit_code == 2


WORKER = (
    "import asyncio\n"
    "from tta_dev_primitives import LambdaPrimitive, WorkflowContext\n"
    "async def ok(x):\n"
    "    return x\n"
    "async def main():\n"
    "    step = LambdaPrimitive(ok, name='cli_worker')\n"
    "    for i in range(4):\n"
    "        await step.execute(i, WorkflowContext())\n"
    "asyncio.run(main())\n"
)


def test_serve_adds_up_worker_processes_over_http(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "multiproc"
    metrics_dir.mkdir()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", WORKER], env=env, check=True, timeout=60)

    server = subprocess.Popen(
        [sys.executable, "-c", MINI_APP, "metrics", "serve", "--port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line + server.stderr.read()
        assert str(metrics_dir) in line
        url = line.split()[1].rstrip(";")
        text = ""
        deadline = time.monotonic() + 20
        while "cli_worker" not in text and time.monotonic() < deadline:
            text = httpx.get(url, timeout=5).text
    finally:
        server.terminate()
        server.communicate(timeout=20)
    counts = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "tta_primitive_duration_seconds_count"
        and sample.labels.get("primitive") == "cli_worker"
        and sample.labels.get("outcome") == "success"
    ]
    assert counts == [8.0]
