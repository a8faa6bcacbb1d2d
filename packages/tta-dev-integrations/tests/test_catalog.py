from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tta_dev_integrations.llm import PROVIDER_SPECS, UnknownModelError, load_catalog
from tta_dev_integrations.llm.budget.profiles import BudgetProfile
from tta_dev_integrations.llm.catalog import TIERS
from tta_dev_integrations.llm.pricing import cost_of
from tta_dev_integrations.llm.routing import QUALITY_BAR, RoutingInputs, decide
from tta_dev_integrations.llm.types import Usage

SEED_NAMES = ["gemini-1.5-pro", "gemini-1.5-flash", "kimi", "deepseek", "claude-3.5-sonnet"]


def test_shipped_catalog_has_the_seed_models_and_a_model_per_provider() -> None:
    catalog = load_catalog()
    for alias in [*SEED_NAMES, "local"]:
        assert alias in catalog
    assert catalog["kimi"].provider == "openrouter"
    assert catalog["kimi"].free
    assert not catalog["claude-3.5-sonnet"].free
    assert {m.provider for m in catalog.values()} == set(PROVIDER_SPECS)


def test_every_entry_is_complete() -> None:
    catalog = load_catalog()
    for model in catalog.values():
        assert model.provider in PROVIDER_SPECS
        assert set(model.quality) == set(TIERS)
        assert all(0 <= q <= 1 for q in model.quality.values())
        assert model.quality_source in catalog.quality_sources
        assert model.context_window > 0
        if not model.free:
            assert model.price is not None, f"{model.alias} is paid but has no price ref"


def test_every_quality_names_its_benchmarks_and_the_date_of_its_source() -> None:
    catalog = load_catalog()
    for model in catalog.values():
        source = catalog.quality_sources[model.quality_source]
        assert re.search(r"\b20\d\d-\d\d(-\d\d)?\b", source), (model.alias, source)
        assert "MMLU" in source, (model.alias, source)  # the knowledge benchmark
        assert "GPQA" in source, (model.alias, source)  # the reasoning benchmark
    assert "tiers" in catalog.quality_sources  # how the figures become tier scores


def test_no_free_model_meets_the_high_bar_so_careful_can_pay_for_high_work() -> None:
    # A free model over the high bar would hold every paid model back under careful.
    catalog = load_catalog()
    over = [
        m.alias for m in catalog.values() if m.free and m.quality["high"] >= QUALITY_BAR["high"]
    ]
    assert over == []
    decision = decide(
        RoutingInputs(
            models=list(catalog.values()),
            profile=BudgetProfile.CAREFUL,
            tier="high",
            worst_case_usd={m.alias: 0.01 for m in catalog.values() if not m.free},
            available_providers=frozenset(m.provider for m in catalog.values()),
            justification_valid=True,
        )
    )
    paid = [c for c in decision.candidates if not c.free]
    assert paid
    assert all(c.kept for c in paid), [(c.model, c.reason) for c in paid]
    assert decision.reason_code == "best_available"  # the strongest on reasoning, paid or not


def test_scores_follow_the_published_ranking_on_reasoning() -> None:
    # GPQA Diamond, corrected for guessing: the order of the sources is kept.
    high = {alias: m.quality["high"] for alias, m in load_catalog().items()}
    assert high["gemini-2.5-pro"] > high["claude-sonnet-4.5"] > high["kimi"] > high["gpt-4.1"]
    assert high["gpt-4.1"] > high["gpt-4o"] > high["gpt-4o-mini"]


def test_paid_prices_come_from_genai_prices() -> None:
    catalog = load_catalog()
    for model in catalog.values():
        if model.free:
            continue
        cost = cost_of(model, Usage(input_tokens=1_000_000, output_tokens=1_000_000))
        assert cost.known, f"genai-prices does not know {model.alias}"
        assert cost.usd > 0


def test_free_models_cost_nothing() -> None:
    cost = cost_of(load_catalog()["kimi"], Usage(1000, 1000))
    assert cost.usd == 0
    assert cost.known


def test_user_file_overrides_and_extends(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entry = {
        "provider": "ollama", "model_id": "qwen3", "free": True,
        "quality": {"low": 0.8, "medium": 0.7, "high": 0.5},
    }  # fmt: skip
    path = tmp_path / "mine.json"
    path.write_text(json.dumps({"models": {"qwen": entry, "kimi": entry}}), encoding="utf-8")
    monkeypatch.setenv("TTA_CATALOG", str(path))
    catalog = load_catalog()
    assert catalog["qwen"].model_id == "qwen3"
    assert catalog["kimi"].provider == "ollama"
    assert "claude-3.5-sonnet" in catalog


def test_unknown_alias_lists_the_catalog() -> None:
    with pytest.raises(UnknownModelError, match=r"claude-3\.5-sonnet"):
        load_catalog()["claude-3.5-sonet"]


def test_a_broken_catalog_file_says_which_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"models": {"x": {"provider": "openai"}}}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json"):
        load_catalog(path)
