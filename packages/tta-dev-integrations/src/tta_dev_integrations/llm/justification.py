"""Justifications for paid calls: parsed, validated against the catalog, then verified.

A justification has ``reason`` (non-empty), ``free_alternatives_tried`` (catalog aliases
of free models) and ``expected_quality_delta`` (a signed percentage such as ``"+30%"``).
*Valid* means well-formed; *verified* means the ledger saw those free models called in
the same workflow (correlation id) recently. Unverified justifications still count: the
ledger entry records that they were not verified, and budget reports show it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from tta_dev_integrations.llm.budget.ledger import Justification
from tta_dev_integrations.llm.catalog import Catalog
from tta_dev_integrations.llm.errors import LLMError

__all__ = [
    "JUSTIFICATION_FIELDS",
    "JustificationRequiredError",
    "justification_problems",
    "parse_justification",
]

JUSTIFICATION_FIELDS = ("reason", "free_alternatives_tried", "expected_quality_delta")
_DELTA = re.compile(r"^[+-]?\d+(\.\d+)?\s*%$")


class JustificationRequiredError(LLMError):
    """Only a paid model can serve, and the request carries no valid justification."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        fields = ", ".join(JUSTIFICATION_FIELDS)
        super().__init__(
            "no free model can serve this request and a paid one needs a justification "
            f"with {fields} ({'; '.join(problems)})"
        )


def parse_justification(value: Any) -> tuple[Justification | None, list[str]]:
    """A justification from a dict (or one already made), and what is wrong with its shape."""
    if value is None:
        return None, ["no justification given"]
    if isinstance(value, Justification):
        return value, []
    if not isinstance(value, Mapping):
        return None, [f"a justification is a dict with {', '.join(JUSTIFICATION_FIELDS)}"]
    problems: list[str] = []
    unknown = sorted(set(value) - set(JUSTIFICATION_FIELDS))
    if unknown:
        problems.append(f"unknown justification field(s) {unknown}")
    tried = value.get("free_alternatives_tried") or ()
    if isinstance(tried, str):
        tried = (tried,)
    justification = Justification(
        reason=str(value.get("reason") or "").strip(),
        free_alternatives_tried=tuple(str(t) for t in tried),
        expected_quality_delta=str(value.get("expected_quality_delta") or "").strip(),
    )
    return justification, problems


def justification_problems(justification: Justification | None, catalog: Catalog) -> list[str]:
    """Everything that keeps ``justification`` from being valid (empty: valid)."""
    if justification is None:
        return ["no justification given"]
    problems: list[str] = []
    if not justification.reason:
        problems.append("reason is empty")
    if not justification.free_alternatives_tried:
        problems.append("free_alternatives_tried is empty: name the free models tried")
    for alias in justification.free_alternatives_tried:
        if alias not in catalog:
            problems.append(f"free_alternatives_tried names {alias!r}, not in the catalog")
        elif not catalog[alias].free:
            problems.append(f"free_alternatives_tried names {alias!r}, which is not free")
    if not _DELTA.match(justification.expected_quality_delta):
        problems.append(
            f"expected_quality_delta must be a percentage like '+30%', "
            f"got {justification.expected_quality_delta!r}"
        )
    return problems
