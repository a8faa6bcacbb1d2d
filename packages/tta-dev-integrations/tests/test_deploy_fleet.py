"""deploy/compose.fleet.yaml: Redis and PostgreSQL beside the stack, every worker wired to
both and scraped; the example app really shares its cache through Redis."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import yaml

import redis_for_tests as rt

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"


def fleet() -> dict[str, dict[str, object]]:
    return yaml.safe_load((DEPLOY / "compose.fleet.yaml").read_text())["services"]  # type: ignore[no-any-return]


def test_every_worker_is_wired_to_the_fleets_redis_and_ledger() -> None:
    services = fleet()
    assert {"redis", "postgres", "worker", "app", "prometheus"} <= set(services)
    postgres = services["postgres"]["environment"]
    assert isinstance(postgres, dict)
    ledger = (
        f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    for name in ("app", "worker"):
        environment = services[name]["environment"]
        assert isinstance(environment, dict)
        assert environment["TTA_REDIS_URL"] == "redis://redis:6379/0", name
        assert environment["TTA_LEDGER_URL"] == ledger, name
        assert {"redis", "postgres"} <= set(services[name]["depends_on"]), name  # type: ignore[arg-type]
    worker = services["worker"]
    assert worker["deploy"] == {"replicas": 3}
    assert (DEPLOY / "example-app" / "Dockerfile").read_text().count("[otlp,redis]") == 1
    command = services["redis"]["command"]
    assert isinstance(command, list)
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_prometheus_scrapes_every_replica_with_the_stacks_rules() -> None:
    services = fleet()
    command = services["prometheus"]["command"]
    assert isinstance(command, list)
    config_path = next(c.split("=", 1)[1] for c in command if c.startswith("--config.file="))
    mounts = dict(v.split(":")[:2][::-1] for v in services["prometheus"]["volumes"])  # type: ignore[union-attr]
    source = DEPLOY / mounts[str(Path(config_path).parent)] / Path(config_path).name
    config = yaml.safe_load(source.read_text())
    job = next(j for j in config["scrape_configs"] if j["job_name"] == "tta")
    assert job["dns_sd_configs"] == [{"names": ["worker"], "type": "A", "port": 9464}]
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]
    assert (DEPLOY / "prometheus" / "alerts.yml").is_file()


@pytest.mark.needs("prometheus")
def test_promtool_accepts_the_fleet_scrape_config(tmp_path: Path) -> None:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    text = (DEPLOY / "prometheus" / "fleet" / "prometheus.yml").read_text()
    local = tmp_path / "prometheus.yml"
    local.write_text(
        text.replace("/etc/prometheus/alerts.yml", str(DEPLOY / "prometheus" / "alerts.yml"))
    )
    checked = subprocess.run(
        [binary, "check", "config", str(local)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.needs("redis")
def test_two_example_app_workers_share_one_cache_in_redis(tmp_path: Path) -> None:
    with rt.throwaway_redis() as server:
        environment = {
            **os.environ,
            "TTA_REDIS_URL": server.url,
            "TTA_HOME": str(tmp_path),
            "OTEL_TRACES_EXPORTER": "none",
        }
        environment.pop("TTA_METRICS_PORT", None)
        command = [sys.executable, str(DEPLOY / "example-app" / "app.py"),
                   "--iterations", "12", "--pause", "0"]  # fmt: skip
        workers = [
            subprocess.Popen(
                command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        for worker in workers:
            _, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err.decode()[-2000:]
        client = redis.Redis.from_url(server.url)
        cached = list(client.scan_iter(match="tta-example:cache:*"))
        client.close()
        # Four kinds of order: at most four entries, however many lookups two workers made.
        assert 1 <= len(cached) <= 4
