from __future__ import annotations

import json
from pathlib import Path

import pytest

from tta_dev_integrations.llm import PROVIDER_SPECS, UnknownModelError, load_catalog
from tta_dev_integrations.llm.catalog import TIERS
from tta_dev_integrations.llm.pricing import cost_of
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
