"""What one request carries across its attempts: the routing facts, each attempt, signals.

``UniversalLLMPrimitive`` routes a request, tries a model, and on failure routes again
with what it learnt; :class:`Routing` holds those facts and lessons, :class:`Attempt`
one try at one model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tta_dev_integrations.llm.budget.ledger import Justification, SpendSummary, to_micros
from tta_dev_integrations.llm.catalog import ModelInfo
from tta_dev_integrations.llm.complexity import Complexity
from tta_dev_integrations.llm.routing import RoutingDecision
from tta_dev_integrations.llm.spend import SpendBound
from tta_dev_integrations.llm.types import LLMRequest
from tta_dev_primitives import WorkflowContext

__all__ = ["Attempt", "QuotaExhausted", "Routing", "capabilities_needed"]


class QuotaExhausted(Exception):
    """A free model's quota window is full: skip it, do not fail."""


@dataclass(slots=True)
class Routing:
    """What one request is routed on, and what its attempts have learnt so far."""

    request: LLMRequest
    context: WorkflowContext
    scope: str
    month: str
    tier: Complexity
    source: str
    reasons: tuple[str, ...]
    justification: Justification | None
    problems: list[str]
    verified: bool | None
    needs: frozenset[str]
    models: list[ModelInfo]
    worst_case_usd: dict[str, float]
    available: frozenset[str]
    stats: Mapping[str, Any]
    failed: set[str] = field(default_factory=set)
    exhausted: set[str] = field(default_factory=set)
    errors: list[Exception] = field(default_factory=list)
    #: The request's own spending cap (``"max_cost_usd"``), if it gave one.
    max_cost_usd: float | None = None
    #: Input-token upper bound of the request on each paid model (see ``spend``).
    input_bounds: dict[str, int] = field(default_factory=dict)
    #: Paid models left out because no price is known for them, with the fix.
    unpriced: dict[str, str] = field(default_factory=dict)
    #: Times a reservation lost a race for the money left and the request decided again.
    budget_retries: int = 0
    #: The month as read with the routing inputs, for the first decision only.
    month_read: SpendSummary | None = None


def _new_request_id() -> str:
    import uuid  # here, not at the top: uuid imports platform (~1.5 ms)

    return uuid.uuid4().hex


@dataclass(slots=True)
class Attempt:
    """One attempt at one model: what the ledger and the metrics need to know of it."""

    model: ModelInfo
    request: LLMRequest
    context: WorkflowContext
    decision: RoutingDecision
    scope: str
    month: str
    justification: Justification | None
    verified: bool | None
    request_id: str = field(default_factory=_new_request_id)
    #: A paid call's input bound, output cap (sent as ``max_tokens``) and worst case.
    bound: SpendBound | None = None

    @property
    def reserved_micros(self) -> int:
        """What a paid attempt reserves: the worst case of the output cap it is sent."""
        if self.bound is None:
            raise ValueError(f"{self.model.alias} is free: its attempt reserves nothing")
        return to_micros(self.bound.usd)


def capabilities_needed(request: LLMRequest) -> frozenset[str]:
    """The catalog capabilities a request needs (tools, vision, json)."""
    needs = set()
    if request.tools:
        needs.add("tools")
    if request.has_images:
        needs.add("vision")
    if request.response_format is not None:
        needs.add("json")
    return frozenset(needs)
