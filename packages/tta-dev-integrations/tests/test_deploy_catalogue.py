"""The whole metric catalogue (core + LLM + budget): document, modules, cardinality."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from replay_server import ReplayServer, Reply
from tta_dev_integrations.llm import create_provider
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import WorkflowContext
from tta_dev_primitives.observability.catalogue import (
    METRIC_MODULES,
    REGENERATE_COMMAND,
    load_catalogue,
    render_markdown,
    unbounded_labels,
)

ROOT = Path(__file__).resolve().parents[3]


def test_the_generated_catalogue_document_is_current() -> None:
    document = ROOT / "docs" / "observability" / "METRICS.md"
    expected = render_markdown(load_catalogue())
    current = document.read_text(encoding="utf-8") if document.exists() else ""
    assert current == expected, (
        f"{document.relative_to(ROOT)} is stale; regenerate it with `{REGENERATE_COMMAND}`"
    )


def test_every_module_that_declares_metrics_is_listed() -> None:
    declaring = set()
    for source in ROOT.glob("packages/*/src/**/*.py"):
        text = source.read_text(encoding="utf-8")
        if re.search(r"^\w+ = declare_metric\(", text, re.MULTILINE):
            package_path = source.relative_to(
                source.parents[0].as_posix().split("/src/")[0] + "/src"
            )
            declaring.add(".".join(package_path.with_suffix("").parts))
    assert declaring, "the scan found no declare_metric call at all"
    assert declaring <= set(METRIC_MODULES), (
        f"add {sorted(declaring - set(METRIC_MODULES))} to catalogue.METRIC_MODULES"
    )


def test_no_metric_of_any_package_has_an_unbounded_label() -> None:
    catalogue = load_catalogue()
    assert any(spec.name.startswith("tta_llm_") for spec in catalogue)
    assert unbounded_labels(catalogue) == []


def test_llm_latency_buckets_are_in_seconds_from_tens_of_ms_to_minutes() -> None:
    catalogue = {spec.name: spec for spec in load_catalogue()}
    for name in ("tta_llm_request_duration_seconds", "tta_llm_time_to_first_token_seconds"):
        buckets = catalogue[name].buckets
        assert catalogue[name].unit == "seconds"
        assert buckets[0] <= 0.05
        assert buckets[-1] >= 60


def completion(text: str) -> Reply:
    return Reply.json(
        {
            "model": "served",
            "choices": [{"message": {"content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 40, "completion_tokens": 12},
        }
    )


async def test_llm_calls_put_no_ids_or_prompt_text_into_label_values(tmp_path: Path) -> None:
    private = "my tax return for 2024 shows"
    ids = {"correlation": "corr-9e1f77c2", "workflow": "wf-d41d8cd9", "user": "user-bob-31337"}
    server = ReplayServer().start()
    provider = create_provider("openrouter", base_url=server.url, api_key="or-key")
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    try:
        llm = UniversalLLMPrimitive(
            coder="none",
            budget_profile="free",
            monthly_limit=10.0,
            free_models=["kimi"],
            ledger=ledger,
            providers={"openrouter": provider},
            scope="team-research",
        )
        for n in range(3):
            server.add("/chat/completions", completion(f"{private} reply-text-{n}"))
            ctx = WorkflowContext(
                workflow_id=ids["workflow"],
                correlation_id=ids["correlation"],
                metadata={"user": ids["user"]},
            )
            response = await llm.execute(
                {"prompt": f"{private} {ids['user']} #{n}", "complexity": "low"}, ctx
            )
            assert response.content.startswith(private)
    finally:
        await provider.aclose()
        await ledger.close()
        server.stop()

    values = {
        value
        for family in text_string_to_metric_families(generate_latest(REGISTRY).decode())
        for sample in family.samples
        for value in sample.labels.values()
    }
    assert "kimi" in values  # the calls were measured
    assert "team-research" in values
    for marker in [*ids.values(), "tax return", "2024", "reply-text"]:
        leaked = [value for value in values if marker in value]
        assert not leaked, f"{marker!r} leaked into label values {leaked}"


@pytest.mark.parametrize("module", METRIC_MODULES)
def test_every_listed_module_imports(module: str) -> None:
    __import__(module)
