"""The routing decision as ``tta ask --explain`` prints it: what would be called, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tta_dev_integrations.llm.routing import RoutingDecision

__all__ = ["explain_decision"]


def explain_decision(decision: RoutingDecision) -> str:
    """The decision in lines: the tier and why, the choice and why, every candidate."""
    reasons = "; ".join(decision.complexity_reasons)
    lines = [
        f"profile {decision.profile}, tier {decision.complexity} "
        f"({decision.complexity_source}{': ' + reasons if reasons else ''})"
    ]
    if decision.chosen is not None:
        lines.append(f"would call {decision.chosen}: {decision.reason}")
    else:
        lines.append(f"no model would serve: {decision.reason}")
    if decision.justification_problems:
        lines.append(f"justification: {'; '.join(decision.justification_problems)}")
    lines.append("candidates (quality on the tier and the judged answers behind it, reliability):")
    for c in decision.candidates:
        mark = "*" if c.model == decision.chosen else " "
        # A paid model out of the running early has no worst case worked out: "paid".
        price = "free" if c.free else f"${c.worst_case_usd:.4f}" if c.worst_case_usd else "paid"
        lines.append(
            f" {mark} {c.model:<20} {price:>9}  quality {c.expected_quality:.2f} "
            f"({c.judged:g} judged)  reliability {c.reliability:.2f}  {c.reason}"
        )
    lines.append("a dry run: no model was called, nothing was reserved or spent")
    return "\n".join(lines) + "\n"
