"""The catalog as rows for ``tta models``: prices per million tokens and key status."""

from __future__ import annotations

from typing import Any

__all__ = ["key_status", "model_rows"]


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


def model_rows() -> list[dict[str, Any]]:
    """One JSON-ready row per catalog model."""
    from tta_dev_integrations.llm import Usage, load_catalog
    from tta_dev_integrations.llm.pricing import cost_of

    rows = []
    keys: dict[str, str] = {}
    for model in load_catalog().values():
        prices = None
        if not model.free:
            cost_in = cost_of(model, Usage(input_tokens=1_000_000, output_tokens=0))
            cost_out = cost_of(model, Usage(input_tokens=0, output_tokens=1_000_000))
            if cost_in.known and cost_out.known:
                prices = {"input": round(cost_in.usd, 4), "output": round(cost_out.usd, 4)}
        if model.provider not in keys:
            keys[model.provider] = key_status(model.provider)
        rows.append(
            {
                "alias": model.alias,
                "provider": model.provider,
                "model_id": model.model_id,
                "free": model.free,
                "usd_per_mtok": prices,
                "quality": dict(model.quality),
                "capabilities": sorted(model.capabilities),
                "context_window": model.context_window,
                "key": keys[model.provider],
            }
        )
    return rows
