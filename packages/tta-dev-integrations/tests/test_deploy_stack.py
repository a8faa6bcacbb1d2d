"""deploy/: PromQL names only catalogued metrics, promtool accepts it, compose is whole."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tta_dev_primitives.observability.catalogue import load_catalogue

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"

# PromQL words that are not metric names: functions, aggregations, keywords.
PROMQL_WORDS = {
    "abs", "absent", "absent_over_time", "and", "avg", "avg_over_time", "bool", "bottomk",
    "by", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "count", "count_over_time",
    "delta", "deriv", "exp", "floor", "group", "group_left", "group_right", "histogram_quantile",
    "idelta", "ignoring", "increase", "irate", "label_replace", "last_over_time", "ln", "max",
    "max_over_time", "min", "min_over_time", "offset", "on", "or", "quantile", "rate", "round",
    "scalar", "sort", "sort_desc", "stddev", "sum", "sum_over_time", "time", "topk", "unless",
    "vector", "without", "inf", "nan",
}  # fmt: skip
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\$\w+", "", text)  # Grafana variables
    text = re.sub(r"(?<![A-Za-z0-9_:])\d[\dA-Za-z.]*", "", text)  # numbers and durations
    words = re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text)
    return {w for w in words if w.lower() not in PROMQL_WORDS}


def series_of_catalogue() -> set[str]:
    names: set[str] = set()
    for spec in load_catalogue():
        names.add(spec.name)
        if spec.kind == "histogram":
            names.update(spec.name + s for s in SUFFIXES)
        if spec.kind == "counter":
            names.add(spec.name.removesuffix("_total") + "_created")
    return names


def alert_expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    return [(rule["alert"], rule["expr"]) for g in rules["groups"] for rule in g["rules"]]


def dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "tta.json").read_text())


def dashboard_expressions() -> list[tuple[str, str]]:
    found = []
    for panel in dashboard()["panels"]:
        found += [(panel["title"], t["expr"]) for t in panel.get("targets", [])]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            found.append((variable["name"], variable["definition"]))
    return found


def test_the_name_parser_finds_the_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, model) (rate(tta_a_bucket{x="rate(y)"}[5m])))'
        " / on (model) group_left max without (job) (tta_b) > bool 2 or up"
    )
    assert metric_names(expr) == {"tta_a_bucket", "tta_b", "up"}
    assert metric_names("tta_d_total offset 5m") == {"tta_d_total"}


def test_every_alert_names_only_catalogued_metrics() -> None:
    known = series_of_catalogue()
    alerts = alert_expressions()
    assert {name for name, _ in alerts} >= {
        "TTABudget80Percent", "TTABudgetExhausted", "TTAPrimitiveErrorRate", "TTACircuitOpen",
        "TTAFreeQuotaExhausted",
    }  # fmt: skip
    for name, expr in alerts:
        unknown = metric_names(expr) - known
        assert not unknown, f"alert {name} names metrics the catalogue lacks: {unknown}"


def test_every_dashboard_query_names_only_catalogued_metrics() -> None:
    known = series_of_catalogue()
    expressions = dashboard_expressions()
    assert len(expressions) >= 15
    for title, expr in expressions:
        names = metric_names(expr.replace("label_values(", "(").replace(", primitive)", ")"))
        unknown = names - known
        assert not unknown, f"panel {title!r} names metrics the catalogue lacks: {unknown}"


def test_the_dashboard_covers_what_the_issue_asks_for() -> None:
    text = json.dumps(dashboard())
    for metric in (
        "tta_primitive_duration_seconds_count",  # requests
        "histogram_quantile",  # latency percentiles
        "tta_budget_spent_usd",  # spend
        "tta_budget_remaining_usd",  # budget left
        "tta_llm_tokens_total",  # tokens
        "tta_cache_hits_total",  # cache hit rate
        "tta_circuit_breaker_state",  # breaker state
    ):
        assert metric in text
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))
    datasources = {json.dumps(p["datasource"]) for p in dashboard()["panels"] if p["type"] != "row"}
    assert datasources == {json.dumps({"type": "prometheus", "uid": "${datasource}"})}


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.skip("promtool is not installed (Debian package `prometheus`)")
    return binary


@pytest.mark.needs("prometheus")
def test_promtool_accepts_the_scrape_config_and_the_alert_rules() -> None:
    binary = promtool()
    config = subprocess.run(
        [binary, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert config.returncode == 0, config.stdout + config.stderr
    rules = subprocess.run(
        [binary, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "8 rules found" in rules.stdout


@pytest.mark.needs("prometheus")
def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    binary = promtool()
    records = [
        {
            "record": f"tta:dashboard_{i}",
            "expr": expr.replace("$__rate_interval", "5m").replace("$primitive", ".*"),
        }
        for i, (_, expr) in enumerate(dashboard_expressions())
        if not expr.startswith("label_values(")
    ]
    rules = tmp_path / "dashboard-rules.yml"
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    checked = subprocess.run(
        [binary, "check", "rules", str(rules)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_compose_starts_the_stack_next_to_the_example_app() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"app", "jaeger", "prometheus", "grafana"}

    app = services["app"]
    dockerfile = (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve()
    assert dockerfile.is_file()
    environment = app["environment"]
    assert environment["OTEL_TRACES_EXPORTER"] == "otlp"
    assert environment["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
    port = environment["TTA_METRICS_PORT"]

    assert "4318:4318" in services["jaeger"]["ports"]
    # Jaeger v2 (v1's all-in-one image reached its end of life on 2025-12-31).
    image, _, tag = services["jaeger"]["image"].partition(":")
    assert image == "jaegertracing/jaeger"
    assert int(tag.split(".")[0]) >= 2
    assert int(services["prometheus"]["image"].split(":v")[1].split(".")[0]) >= 3
    assert int(services["grafana"]["image"].split(":")[1].split(".")[0]) >= 12

    # Prometheus scrapes the app where the app listens.
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [t for job in config["scrape_configs"] for s in job["static_configs"]
               for t in s["targets"]]  # fmt: skip
    assert f"app:{port}" in targets
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]

    # Every bind-mounted source exists.
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert (DEPLOY / source).exists(), f"{source} does not exist under deploy/"

    provisioned = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/datasources.yaml").read_text()
    )
    uids = {d["uid"] for d in provisioned["datasources"]}
    assert uids == {"prometheus", "jaeger"}
    providers = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/tta.yaml").read_text())
    mounts = [v.split(":")[1] for v in services["grafana"]["volumes"]]
    assert providers["providers"][0]["options"]["path"] in mounts


def _datasources(node: Any) -> list[dict[str, Any]]:
    """Every ``datasource`` object anywhere in the dashboard."""
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource" and isinstance(value, dict):
                found.append(value)
            found += _datasources(value)
    elif isinstance(node, list):
        for item in node:
            found += _datasources(item)
    return found


def test_the_dashboard_takes_its_prometheus_from_a_datasource_variable() -> None:
    board = dashboard()
    (variable,) = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert variable["name"] == "datasource"
    assert variable["query"] == "prometheus"
    used = _datasources(board)
    assert len(used) > 40  # every panel, target and the primitive variable
    for datasource in used:
        assert datasource == {"type": "prometheus", "uid": "${datasource}"}, datasource
    # A dashboard imported elsewhere picks that Grafana's Prometheus: no uid is fixed.
    assert '"uid": "prometheus"' not in json.dumps(board)
