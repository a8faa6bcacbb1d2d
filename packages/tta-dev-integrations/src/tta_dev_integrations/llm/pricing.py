"""What a call cost, from the usage the provider reported and genai-prices' data.

Free models cost $0 without consulting anything. For a paid model, the price comes
from ``genai-prices`` (bundled data, offline); it is imported on the first paid call,
since it takes ~350 ms to load.
"""

from __future__ import annotations

from dataclasses import dataclass

from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.types import Usage

__all__ = ["Cost", "cost_of"]


@dataclass(frozen=True, slots=True)
class Cost:
    """Dollars for one call.

    ``estimated`` when the usage was counted by us; ``known`` is False when no price
    could be found (the amount is then 0 and must not be trusted).
    """

    usd: float
    estimated: bool = False
    known: bool = True


def cost_of(model: ModelInfo, usage: Usage) -> Cost:
    """The cost of ``usage`` on ``model``."""
    if model.free:
        return Cost(0.0, estimated=usage.estimated)
    if model.price is None:
        return Cost(0.0, estimated=True, known=False)
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    try:
        price = calc_price(
            PriceUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cached_input_tokens or None,
            ),
            model_ref=model.price.model_ref,
            provider_id=model.price.provider_id,
        )
    except LookupError:
        return Cost(0.0, estimated=True, known=False)
    return Cost(float(price.total_price), estimated=usage.estimated)
