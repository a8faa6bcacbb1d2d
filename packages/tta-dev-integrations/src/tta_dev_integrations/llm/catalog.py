"""The model catalog: aliases mapped to a provider, a model id and what is known of it.

The catalog ships as ``catalog.json`` in this package. A file of your own, named by
``TTA_CATALOG`` or passed to :func:`load_catalog`, is merged over it: same alias
replaces the entry, new aliases are added. Prices are not in the catalog: they come
from ``genai-prices`` (see :mod:`tta_dev_integrations.llm.pricing`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from tta_dev_integrations.llm.errors import UnknownModelError

__all__ = ["TIERS", "Catalog", "FreeTier", "ModelInfo", "PriceRef", "Tier", "load_catalog"]

Tier = Literal["low", "medium", "high"]
TIERS: tuple[Tier, ...] = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class FreeTier:
    """A provider's published free-tier limits for a model (``None``: not published)."""

    requests_per_minute: int | None = None
    requests_per_day: int | None = None


@dataclass(frozen=True, slots=True)
class PriceRef:
    """How genai-prices names the model: its provider id and model reference."""

    provider_id: str
    model_ref: str


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """One catalog entry."""

    alias: str
    provider: str
    model_id: str
    free: bool
    context_window: int
    capabilities: frozenset[str]
    quality: Mapping[Tier, float]
    quality_source: str
    price: PriceRef | None = None
    free_tier: FreeTier | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class Catalog(Mapping[str, ModelInfo]):
    """Models by alias; ``catalog["kimi"]`` raises :class:`UnknownModelError` listing all."""

    def __init__(self, models: Mapping[str, ModelInfo], sources: Mapping[str, str]) -> None:
        self._models = dict(models)
        self.quality_sources = dict(sources)

    def __getitem__(self, alias: str) -> ModelInfo:
        try:
            return self._models[alias]
        except KeyError:
            raise UnknownModelError(alias, list(self._models)) from None

    def __contains__(self, alias: object) -> bool:
        return alias in self._models

    def __iter__(self) -> Iterator[str]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)


def _model(alias: str, raw: Mapping[str, Any]) -> ModelInfo:
    known = {
        "provider", "model_id", "free", "context_window", "capabilities", "quality",
        "quality_source", "price", "free_tier",
    }  # fmt: skip
    missing = {"provider", "model_id", "free", "quality"} - set(raw)
    if missing:
        raise ValueError(f"catalog entry {alias!r} lacks {sorted(missing)}")
    quality = {tier: float(raw["quality"][tier]) for tier in TIERS}
    price = raw.get("price")
    tier = raw.get("free_tier")
    return ModelInfo(
        alias=alias,
        provider=str(raw["provider"]),
        model_id=str(raw["model_id"]),
        free=bool(raw["free"]),
        context_window=int(raw.get("context_window", 8192)),
        capabilities=frozenset(raw.get("capabilities", ())),
        quality=quality,
        quality_source=str(raw.get("quality_source", "")),
        price=PriceRef(**price) if price else None,
        free_tier=FreeTier(**tier) if tier else None,
        extra={k: v for k, v in raw.items() if k not in known},
    )


def _read(text: str, origin: str) -> tuple[dict[str, ModelInfo], dict[str, str]]:
    try:
        data = json.loads(text)
        models = {alias: _model(alias, raw) for alias, raw in data.get("models", {}).items()}
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"cannot read the model catalog {origin}: {error}") from error
    return models, dict(data.get("quality_sources", {}))


@cache
def _builtin() -> tuple[dict[str, ModelInfo], dict[str, str]]:
    text = Path(__file__).with_name("catalog.json").read_text(encoding="utf-8")
    return _read(text, "shipped with tta-dev-integrations")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The shipped catalog, with ``path`` (or ``TTA_CATALOG``) merged over it."""
    builtin_models, builtin_sources = _builtin()
    models, sources = dict(builtin_models), dict(builtin_sources)
    override = path or os.environ.get("TTA_CATALOG")
    if override:
        file = Path(override).expanduser()
        extra_models, extra_sources = _read(file.read_text(encoding="utf-8"), str(file))
        models.update(extra_models)
        sources.update(extra_sources)
    return Catalog(models, sources)
