"""What a call cost, from the usage the provider reported and the model's price.

Free models cost $0 without consulting anything. A paid model is priced by its catalog
entry's own rates when it gives them, else by ``genai-prices`` (bundled data, offline;
imported on the first paid call, since it takes ~350 ms to load). Prompt-cache reads
and writes are priced at their own rates (Anthropic bills a cache write at 1.25 times
the input rate). A paid model with no known price is never called:
:func:`price_problem` says why and how to give it one.

genai-prices stays the source of truth, but one calculation takes about 70 us (usage
decomposition and validation). A model whose genai-prices entry is linear (plain
per-million-token rates for input, output and cache reads and writes, no tiers, no
time-dependent or per-request prices) is priced by those rates, read once per model:
two multiplications. Anything else (tiers, conditional prices, other units, or cache
tokens the entry has no rate for) goes through genai-prices on every call; a test
checks that both paths agree to the micro-dollar on every catalog model.
"""

from __future__ import annotations

from dataclasses import dataclass

from tta_dev_integrations.llm.catalog import ModelInfo, PriceRef
from tta_dev_integrations.llm.types import Usage

__all__ = ["Cost", "cost_of", "price_problem"]

_CACHE_WRITE_FACTOR = 1.25
"""Cache-write rate over the input rate when own rates give none (Anthropic's 5-minute rate)."""


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
    price = model.price
    if price is None or min(_counts(usage)) < 0:
        # No price, or usage with a count the provider got wrong: not a cost to trust.
        return Cost(0.0, estimated=True, known=False)
    if price.has_rates:
        return Cost(_own_rates(model, usage), estimated=usage.estimated)
    rates = _linear_rates(price)
    if rates is not None and rates.covers(usage):
        return Cost(rates.usd(usage), estimated=usage.estimated)
    return _genai_cost(price, usage)


def _genai_cost(price: PriceRef, usage: Usage) -> Cost:
    """The cost of ``usage`` as genai-prices calculates it (tiers and all)."""
    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price

    cache_read = min(usage.cached_input_tokens, usage.input_tokens)
    cache_write = min(usage.cache_write_input_tokens, usage.input_tokens - cache_read)
    try:
        calculated = calc_price(
            PriceUsage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=cache_read or None,
                cache_write_tokens=cache_write or None,
            ),
            model_ref=price.model_ref,
            provider_id=price.provider_id,
        )
    except (LookupError, ValueError):
        # ValueError: usage genai-prices refuses (a negative count); not a price to trust.
        return Cost(0.0, estimated=True, known=False)
    return Cost(float(calculated.total_price), estimated=usage.estimated)


@dataclass(frozen=True, slots=True)
class _Rates:
    """A linear genai-prices entry: dollars per million tokens (``None``: no such rate)."""

    input: float
    output: float
    cache_read: float | None
    cache_write: float | None

    def covers(self, usage: Usage) -> bool:
        """Whether these rates price every kind of token ``usage`` holds."""
        return (self.cache_read is not None or usage.cached_input_tokens <= 0) and (
            self.cache_write is not None or usage.cache_write_input_tokens <= 0
        )

    def usd(self, usage: Usage) -> float:
        read = min(usage.cached_input_tokens, usage.input_tokens)
        write = min(usage.cache_write_input_tokens, usage.input_tokens - read)
        micro_usd = (
            usage.input_tokens - read - write
        ) * self.input + usage.output_tokens * self.output
        if read:
            micro_usd += read * (self.cache_read or 0.0)
        if write:
            micro_usd += write * (self.cache_write or 0.0)
        return micro_usd / 1_000_000


_TOKEN_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
_RATES: dict[PriceRef, _Rates | None] = {}


def _linear_rates(price: PriceRef) -> _Rates | None:
    """The entry's rates when genai-prices prices its tokens linearly, else ``None``.

    Linear: one time-independent price (no conditional prices), each token rate a plain
    number (no tiers), no price per request. Looked up once per price.
    """
    if price in _RATES:
        return _RATES[price]
    from decimal import Decimal

    from genai_prices import Usage as PriceUsage
    from genai_prices import calc_price
    from genai_prices.types import ModelPrice

    rates = None
    try:
        found = calc_price(
            PriceUsage(input_tokens=1, output_tokens=1),
            model_ref=price.model_ref,
            provider_id=price.provider_id,
        ).model
    except (LookupError, ValueError):
        found = None
    # Price variants apply only to a request context, which cost_of never gives; prices of
    # other units (web searches, audio) never apply to the token counts it prices.
    if found is not None and isinstance(found.prices, ModelPrice):
        values = {k: v for k, v in vars(found.prices).items() if v is not None}
        tokens = [values.get(key) for key in _TOKEN_KEYS]
        plain = all(v is None or isinstance(v, Decimal) for v in tokens)
        if plain and "requests_kcount" not in values and None not in tokens[:2]:
            read, write = (None if v is None else float(v) for v in tokens[2:])
            rates = _Rates(float(values["input_mtok"]), float(values["output_mtok"]), read, write)
    _RATES[price] = rates
    return rates


def _counts(usage: Usage) -> tuple[int, ...]:
    return (
        usage.input_tokens,
        usage.output_tokens,
        usage.cached_input_tokens,
        usage.cache_write_input_tokens,
    )


def _own_rates(model: ModelInfo, usage: Usage) -> float:
    price = model.price
    assert price is not None
    assert price.input_usd_per_mtok is not None
    assert price.output_usd_per_mtok is not None
    read_rate = price.cache_read_usd_per_mtok
    write_rate = price.cache_write_usd_per_mtok
    read = min(usage.cached_input_tokens, usage.input_tokens)
    write = min(usage.cache_write_input_tokens, usage.input_tokens - read)
    plain = usage.input_tokens - read - write
    micro_usd = (
        plain * price.input_usd_per_mtok
        + read * (price.input_usd_per_mtok if read_rate is None else read_rate)
        + write
        * (price.input_usd_per_mtok * _CACHE_WRITE_FACTOR if write_rate is None else write_rate)
        + usage.output_tokens * price.output_usd_per_mtok
    )
    return micro_usd / 1_000_000


def price_problem(model: ModelInfo) -> str | None:
    """Why ``model`` cannot be priced, with the fix; ``None`` when it can (or is free)."""
    if model.free:
        return None
    key = (model.alias, model.price)
    if key not in _PROBLEMS:  # asked on every request: genai-prices is looked up once
        _PROBLEMS[key] = _price_problem(model)
    return _PROBLEMS[key]


_PROBLEMS: dict[tuple[str, PriceRef | None], str | None] = {}


def _price_problem(model: ModelInfo) -> str | None:
    if model.price is None:
        where = "its catalog entry has no price"
    elif model.price.has_rates or cost_of(model, Usage(1, 1)).known:
        return None
    else:
        where = (
            f"genai-prices knows no model {model.price.model_ref!r} of provider "
            f"{model.price.provider_id!r}"
        )
    return (
        f"paid model {model.alias!r} has no known price ({where}), so it is never called; "
        'give its catalog entry (TTA_CATALOG) a price: "price": {"input_usd_per_mtok": ..., '
        '"output_usd_per_mtok": ...}, or a genai-prices "provider_id" and "model_ref"'
    )
