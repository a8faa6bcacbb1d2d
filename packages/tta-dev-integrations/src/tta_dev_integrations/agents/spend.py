"""A run's money limit: no model call may be made that could take the run past it.

The model calls of one run are sequential, so before each the run knows what it
spent and what is left. How the rest is enforced depends on the model:

* ``UniversalLLMPrimitive``: the request carries ``max_cost_usd`` = what is left; the
  ledger's reservation for the call may not pass it (the output cap is lowered to
  fit, or the call is refused, nothing charged). Runs sharing one scope are kept
  within the scope's limit by the ledger, and each run within its own by this cap.
* ``LLMPrimitive`` of a paid model: the worst case of the call (input bound, output
  cap; see :mod:`tta_dev_integrations.llm.spend`) is computed here, the output cap
  lowered to fit what is left, and the call refused when even the smallest does not.
* Any other primitive (a test double, a custom model) cannot be bounded beforehand:
  its costs are added up after each call and the run stops once they pass the cap.
"""

from __future__ import annotations

from typing import Any

from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.primitive import LLMPrimitive
from tta_dev_integrations.llm.spend import check_usd, input_token_bound, spend_bound
from tta_dev_integrations.llm.types import LLMRequest
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import WorkflowPrimitive, WrapperPrimitive

__all__ = ["RunCap", "SpendRefused"]


class SpendRefused(Exception):
    """The next call could cost more than is left; the message says by how much."""


class RunCap:
    """Shapes each model request of a run so the run stays within ``max_cost_usd``."""

    def __init__(self, llm: WorkflowPrimitive[Any, Any], max_cost_usd: float | None) -> None:
        if max_cost_usd is not None and not max_cost_usd >= 0:
            raise ValueError(f"max_cost_usd must be >= 0 dollars, got {max_cost_usd!r}")
        self.max_cost_usd = max_cost_usd
        self._universal = False
        self._model: ModelInfo | None = None
        inner: Any = llm
        while isinstance(inner, WrapperPrimitive):  # retry, timeout... around the model
            inner = inner.inner
        if isinstance(inner, UniversalLLMPrimitive):
            self._universal = True
        elif isinstance(inner, LLMPrimitive):
            self._model = inner.info

    @property
    def bounded(self) -> bool:
        """Whether calls are bounded before they are made (not only counted after)."""
        return self._universal or self._model is not None

    def shape(self, request: dict[str, Any], spent_usd: float) -> dict[str, Any]:
        """``request`` within what is left, or :class:`SpendRefused`."""
        if self.max_cost_usd is None:
            return request
        left = max(0.0, self.max_cost_usd - spent_usd)
        if self._universal:
            own = check_usd("max_cost_usd", request.get("max_cost_usd"))
            # A cap per call the caller set stays in force; the smaller of the two is sent.
            return {**request, "max_cost_usd": left if own is None else min(own, left)}
        model = self._model
        if model is None or model.free:
            if not self.bounded and spent_usd > self.max_cost_usd:
                raise SpendRefused(f"the run has spent ${spent_usd:.6f}")
            return request
        built = LLMRequest.from_value(request)
        bound = spend_bound(model, built, input_token_bound(built, model), left)
        if bound.usd > left:
            raise SpendRefused(
                f"the next call to {model.alias} may cost up to ${bound.usd:.6f} and "
                f"${left:.6f} is left"
            )
        return {**request, "max_tokens": bound.output_tokens}

    def check_after(self, spent_usd: float) -> None:
        """For unbounded models: :class:`SpendRefused` once the spend passed the cap."""
        if self.max_cost_usd is not None and not self.bounded and spent_usd > self.max_cost_usd:
            raise SpendRefused(f"the run has spent ${spent_usd:.6f}")
