"""The model catalog: aliases mapped to a provider, a model id and what is known of it.

The catalog ships as ``catalog.json`` in this package. A file of your own, named by
``TTA_CATALOG`` or passed to :func:`load_catalog`, is merged over it: same alias
replaces the entry, new aliases are added.

A paid model's ``price`` is either a reference into ``genai-prices``
(``{"provider_id": "openai", "model_ref": "gpt-4.1"}``) or its own rates in dollars per
million tokens (``{"input_usd_per_mtok": 2.0, "output_usd_per_mtok": 8.0}``, optionally
``cache_read_usd_per_mtok`` and ``cache_write_usd_per_mtok``); own rates win when both
are given. A paid model whose price is unknown is never called (see
:mod:`tta_dev_integrations.llm.pricing`). ``max_output_tokens`` is the most a model
writes in one answer (:data:`DEFAULT_MAX_OUTPUT_TOKENS` when not given): a paid call
is capped at it, or lower when the money left asks for it. ``image_token_factor``
multiplies the provider's image-token rule for models that count images differently
(OpenAI's gpt-4o-mini counts 33.34 times gpt-4o's tokens per image).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from tta_dev_integrations.llm.errors import UnknownModelError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "TIERS",
    "Catalog",
    "FreeTier",
    "ModelInfo",
    "PriceRef",
    "Tier",
    "load_catalog",
]

Tier = Literal["low", "medium", "high"]
TIERS: tuple[Tier, ...] = ("low", "medium", "high")

DEFAULT_MAX_OUTPUT_TOKENS = 4096
"""Output cap of a catalog entry that gives no ``max_output_tokens``."""

_RATES = (
    "input_usd_per_mtok",
    "output_usd_per_mtok",
    "cache_read_usd_per_mtok",
    "cache_write_usd_per_mtok",
)


@dataclass(frozen=True, slots=True)
class FreeTier:
    """A provider's published free-tier limits for a model (``None``: not published)."""

    requests_per_minute: int | None = None
    requests_per_day: int | None = None


@dataclass(frozen=True, slots=True)
class PriceRef:
    """How a paid model is priced: genai-prices' names for it, or its own rates.

    ``provider_id`` and ``model_ref`` name the model in genai-prices. The ``*_usd_per_mtok``
    rates (dollars per million tokens) price it directly; input and output are then both
    required, cache reads default to the input rate and cache writes to 1.25 times it.
    """

    provider_id: str = ""
    model_ref: str = ""
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    cache_read_usd_per_mtok: float | None = None
    cache_write_usd_per_mtok: float | None = None

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value < 1e6
            ):
                raise ValueError(f"price {name} must be a number of dollars >= 0, got {value!r}")
        given = {n for n in _RATES if getattr(self, n) is not None}
        if given and not {"input_usd_per_mtok", "output_usd_per_mtok"} <= given:
            raise ValueError(
                "a price with own rates needs input_usd_per_mtok and output_usd_per_mtok"
            )
        if not given and not (self.provider_id and self.model_ref):
            raise ValueError(
                'a price is {"provider_id", "model_ref"} (genai-prices) or '
                '{"input_usd_per_mtok", "output_usd_per_mtok"}'
            )

    @property
    def has_rates(self) -> bool:
        """Whether the entry gives its own rates (they then win over genai-prices)."""
        return self.input_usd_per_mtok is not None and self.output_usd_per_mtok is not None


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
    max_output_tokens: int = DEFAULT_MAX_OUTPUT_TOKENS
    image_token_factor: float = 1.0


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
    try:
        return _entry(alias, raw)
    except (ValueError, TypeError) as error:
        raise ValueError(f"catalog entry {alias!r}: {error}") from error


def _entry(alias: str, raw: Mapping[str, Any]) -> ModelInfo:
    known = {
        "provider", "model_id", "free", "context_window", "capabilities", "quality",
        "quality_source", "price", "free_tier", "max_output_tokens", "image_token_factor",
    }  # fmt: skip
    missing = {"provider", "model_id", "free", "quality"} - set(raw)
    if missing:
        raise ValueError(f"lacks {sorted(missing)}")
    quality = {tier: float(raw["quality"][tier]) for tier in TIERS}
    price = raw.get("price")
    tier = raw.get("free_tier")
    max_output = raw.get("max_output_tokens", DEFAULT_MAX_OUTPUT_TOKENS)
    if isinstance(max_output, bool) or not isinstance(max_output, int) or max_output < 1:
        raise ValueError(f"max_output_tokens must be a whole number >= 1, got {max_output!r}")
    factor = raw.get("image_token_factor", 1.0)
    if isinstance(factor, bool) or not isinstance(factor, int | float) or not 0 < factor < 1e3:
        raise ValueError(f"image_token_factor must be a number > 0, got {factor!r}")
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
        max_output_tokens=max_output,
        image_token_factor=float(factor),
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
    from pathlib import Path  # here, not at the top: pathlib costs ~2.5 ms to import

    text = Path(__file__).with_name("catalog.json").read_text(encoding="utf-8")
    return _read(text, "shipped with tta-dev-integrations")


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The shipped catalog, with ``path`` (or ``TTA_CATALOG``) merged over it."""
    builtin_models, builtin_sources = _builtin()
    models, sources = dict(builtin_models), dict(builtin_sources)
    override = path or os.environ.get("TTA_CATALOG")
    if override:
        from pathlib import Path

        file = Path(override).expanduser()
        extra_models, extra_sources = _read(file.read_text(encoding="utf-8"), str(file))
        models.update(extra_models)
        sources.update(extra_sources)
    return Catalog(models, sources)
