"""A linear genai-prices entry is priced by its rates, read once; both paths agree.

genai-prices stays the source of truth: for every paid catalog model and a grid of
usage shapes (tiny and huge inputs, past the 200k tier thresholds, cache reads and
writes), the cost the fast path gives equals genai-prices' own to the micro-dollar.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from tta_dev_integrations.llm import load_catalog
from tta_dev_integrations.llm.catalog import ModelInfo, PriceRef
from tta_dev_integrations.llm.pricing import _genai_cost, _linear_rates, cost_of
from tta_dev_integrations.llm.types import Usage

CATALOG = load_catalog()
GENAI_PRICED = [
    m for m in CATALOG.values() if not m.free and m.price is not None and not m.price.has_rates
]
SHAPES = [
    Usage(i, o, cached_input_tokens=r, cache_write_input_tokens=w)
    for i, o, r, w in itertools.product(
        (0, 1, 12, 1_000, 150_000, 250_000), (0, 1, 800, 8_192), (0, 500), (0, 300)
    )
    if r + w <= i
]


def test_the_catalog_has_linear_and_tiered_genai_prices() -> None:
    linear = [m.alias for m in GENAI_PRICED if _linear_rates(m.price) is not None]
    tiered = [m.alias for m in GENAI_PRICED if _linear_rates(m.price) is None]
    assert linear, "no catalog model takes the fast path: the test below proves nothing"
    assert "claude-sonnet-4.5" in tiered  # its prices change at 200k input tokens


@pytest.mark.parametrize("model", GENAI_PRICED, ids=lambda m: m.alias)
def test_both_paths_agree_to_the_micro_dollar(model: ModelInfo) -> None:
    assert model.price is not None
    for usage in SHAPES:
        fast = cost_of(model, usage)
        exact = _genai_cost(model.price, usage)
        assert fast.known
        assert exact.known
        assert abs(fast.usd - exact.usd) < 1e-6, (model.alias, usage, fast.usd, exact.usd)


def test_tiered_prices_are_never_taken_as_linear() -> None:
    tiered = CATALOG["claude-sonnet-4.5"]
    assert tiered.price is not None
    below = cost_of(tiered, Usage(100_000, 1_000)).usd
    above = cost_of(tiered, Usage(300_000, 1_000)).usd
    # Past 200k input tokens every token costs more: not three times the smaller call.
    assert above > 3 * below * 1.5


def test_an_unknown_genai_model_has_no_rates_and_no_price() -> None:
    price = PriceRef(provider_id="openai", model_ref="no-such-model-anywhere")
    assert _linear_rates(price) is None
    model = replace(CATALOG["gpt-4o"], alias="ghost", price=price)
    assert not cost_of(model, Usage(10, 10)).known
