"""What a paid call is settled at: the provider's usage when it can be trusted, else an estimate.

The ledger records every paid call as *measured* (priced from the usage the provider
reported) or *estimated*. A call is settled at an estimate when:

* the provider reported no usage (the estimate is the input upper bound of
  :mod:`~tta_dev_integrations.llm.spend` plus one token per UTF-8 byte of the answer
  received, never more than the output cap);
* the answer stopped early (the caller stopped reading, the connection was cut, an
  event could not be read): the usage seen so far (Anthropic reports the input tokens
  when it starts) with the output received, else the same estimate as above; the
  provider bills what it generated, so such a call is never released at $0;
* the reported usage cannot be trusted: a count that is negative or not a whole
  number (adapters report those as -1), input beyond the model's context window,
  output beyond the cap that was sent, cached tokens beyond the input. The call is
  then settled at its reservation (the most it could cost) and a warning is logged.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from tta_dev_integrations.llm.budget.ledger import to_micros
from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.pricing import cost_of
from tta_dev_integrations.llm.spend import SpendBound
from tta_dev_integrations.llm.types import ToolCall, Usage

__all__ = ["Settlement", "output_token_bound", "settle_figures", "usage_problem"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settlement:
    """What the ledger records for one paid call."""

    actual_micros: int
    measured: bool
    input_tokens: int
    output_tokens: int


def output_token_bound(text: str, tool_calls: tuple[ToolCall, ...] = ()) -> int:
    """At most how many output tokens produced ``text`` and ``tool_calls`` (a byte each)."""
    total = len(text.encode("utf-8", "surrogatepass"))
    for call in tool_calls:
        arguments = json.dumps(call.arguments, ensure_ascii=False, default=str)
        total += len(call.name.encode()) + len(arguments.encode("utf-8", "surrogatepass"))
    return total


def usage_problem(usage: Usage, model: ModelInfo, bound: SpendBound) -> str | None:
    """Why ``usage`` cannot be trusted for a call capped by ``bound``; ``None`` if it can."""
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_input_tokens": usage.cache_write_input_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
    }
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{name} is {value!r}, not a whole number >= 0"
    if usage.output_tokens > bound.output_tokens:
        return f"output_tokens {usage.output_tokens} exceeds the cap {bound.output_tokens} sent"
    if usage.input_tokens > max(model.context_window, bound.input_tokens):
        return f"input_tokens {usage.input_tokens} exceeds the context window"
    if usage.cached_input_tokens + usage.cache_write_input_tokens > usage.input_tokens:
        return "cached tokens exceed the input tokens"
    return None


def settle_figures(
    model: ModelInfo,
    bound: SpendBound,
    reserved_micros: int,
    usage: Usage | None,
    received_tokens: int,
    *,
    complete: bool,
    request_id: str = "",
) -> Settlement:
    """The settlement of a paid call capped by ``bound`` (see the module for the rules).

    ``usage`` is what the provider reported (``None``: nothing), ``received_tokens`` the
    output bound of what was received (:func:`output_token_bound`), ``complete`` whether
    the answer ended normally.
    """
    output = min(received_tokens, bound.output_tokens)
    if usage is not None and not usage.estimated:
        problem = usage_problem(usage, model, bound)
        if problem is not None:
            logger.warning(
                "usage reported for %s on %s is not trusted (%s): settled at the "
                "reservation, marked estimated",
                request_id or "a paid call",
                model.alias,
                problem,
            )
            return Settlement(reserved_micros, False, bound.input_tokens, bound.output_tokens)
        if not complete:
            usage = Usage(
                input_tokens=usage.input_tokens,
                output_tokens=max(usage.output_tokens, output),
                cached_input_tokens=usage.cached_input_tokens,
                cache_write_input_tokens=usage.cache_write_input_tokens,
            )
        cost = cost_of(model, usage)
        if cost.known:
            return Settlement(
                to_micros(cost.usd), complete, usage.input_tokens, usage.output_tokens
            )
    estimate = cost_of(model, Usage(bound.input_tokens, output))
    if not estimate.known:
        return Settlement(reserved_micros, False, bound.input_tokens, bound.output_tokens)
    return Settlement(
        min(to_micros(estimate.usd), reserved_micros), False, bound.input_tokens, output
    )
