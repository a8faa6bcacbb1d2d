"""The catalog as rows for ``tta models``: prices per million tokens and key status."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tta_dev_integrations.llm.catalog import ModelInfo

__all__ = ["key_status", "model_rows", "prices"]


def key_status(provider: str) -> str:
    """``env:OPENAI_API_KEY`` (where the key was found), ``missing`` or ``not needed``."""
    from tta_dev_integrations.llm import PROVIDER_SPECS
    from tta_dev_integrations.llm.keys import lookup_key

    spec = PROVIDER_SPECS.get(provider)
    if spec is None:
        return "unknown provider"
    if not spec.key_required:
        return "not needed"
    found = lookup_key(spec.key_envs)
    return found.source if found else f"missing ({' or '.join(spec.key_envs)})"


_SAMPLE = 1_000
"""Tokens priced to read a rate: small enough to stay in the base tier of every model."""
_LONG = 1_000_000
"""Input tokens of a request past every long-context threshold (200k, 128k, ...)."""


def _rates(model: ModelInfo, input_tokens: int) -> dict[str, float] | None:
    """Dollars per million tokens for a request with ``input_tokens`` of input, or None."""
    from tta_dev_integrations.llm import Usage
    from tta_dev_integrations.llm.pricing import cost_of

    prompt = cost_of(model, Usage(input_tokens=input_tokens, output_tokens=0))
    answered = cost_of(model, Usage(input_tokens=input_tokens, output_tokens=_SAMPLE))
    if not (prompt.known and answered.known):
        return None
    return {
        "input": round(prompt.usd / input_tokens * 1_000_000, 4),
        "output": round((answered.usd - prompt.usd) / _SAMPLE * 1_000_000, 4),
    }


def prices(model: ModelInfo) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    """The base tier's $/M tokens, and the long-context tier's where the model has one.

    Pricing a whole million input tokens lands in the long-context tier of the models
    that have one (claude-sonnet-4.5 above 200k input tokens), so the base rates come
    from a small request and the long-context ones from a million-token request; the
    latter are given only where they differ.
    """
    if model.free:
        return None, None
    base = _rates(model, _SAMPLE)
    if base is None:
        return None, None
    long_context = _rates(model, _LONG)
    return base, long_context if long_context is not None and long_context != base else None


def model_rows() -> list[dict[str, Any]]:
    """One JSON-ready row per catalog model."""
    from tta_dev_integrations.llm import load_catalog

    rows = []
    keys: dict[str, str] = {}
    for model in load_catalog().values():
        base, long_context = prices(model)
        if model.provider not in keys:
            keys[model.provider] = key_status(model.provider)
        rows.append(
            {
                "alias": model.alias,
                "provider": model.provider,
                "model_id": model.model_id,
                "free": model.free,
                "usd_per_mtok": base,
                "usd_per_mtok_long_context": long_context,
                "quality": dict(model.quality),
                "capabilities": sorted(model.capabilities),
                "context_window": model.context_window,
                "key": keys[model.provider],
            }
        )
    return rows
