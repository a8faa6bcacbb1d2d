"""Justifications for paid calls: parsed, validated against the catalog, then verified.

A justification has ``reason`` (non-empty), ``free_alternatives_tried`` (catalog aliases
of free models) and ``expected_quality_delta`` (a signed percentage such as ``"+30%"``).
*Valid* means well-formed; *verified* means the ledger saw those free models called in
the same workflow (correlation id) recently. Unverified justifications still count: the
ledger entry records that they were not verified, and budget reports show it (unless
``UniversalLLMPrimitive(require_verified_justification=True)`` refuses them).

Sizes are capped, since every paid entry stores its justification: a ``reason`` longer
than :data:`MAX_REASON_CHARS` characters, more than :data:`MAX_ALTERNATIVES` free models
tried, or an alias longer than :data:`MAX_ALIAS_CHARS` make the justification invalid
(refused, not cut, so the caller learns it). ``expected_quality_delta`` is an ASCII
signed percentage: ``+30%``, ``-5.5%``, ``12 %`` (at most four digits before the point
and two after).
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
    "MAX_ALIAS_CHARS",
    "MAX_ALTERNATIVES",
    "MAX_REASON_CHARS",
    "JustificationRequiredError",
    "justification_problems",
    "parse_justification",
]

JUSTIFICATION_FIELDS = ("reason", "free_alternatives_tried", "expected_quality_delta")
MAX_REASON_CHARS = 2_000
"""The longest ``reason`` a justification may give."""
MAX_ALTERNATIVES = 20
"""The most free models ``free_alternatives_tried`` may name."""
MAX_ALIAS_CHARS = 100
"""The longest alias ``free_alternatives_tried`` may name."""
_DELTA = r"[+-]?[0-9]{1,4}(\.[0-9]{1,2})? ?%"  # compiled on first use, by re's cache


def _shown(value: str, limit: int = 40) -> str:
    """``value`` for an error message: quoted, and cut when long."""
    return repr(value if len(value) <= limit else value[:limit] + "...")


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
    elif not isinstance(tried, list | tuple):
        problems.append("free_alternatives_tried must be a list of catalog aliases")
        tried = ()
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
    elif len(justification.reason) > MAX_REASON_CHARS:
        problems.append(
            f"reason is {len(justification.reason)} characters long; at most "
            f"{MAX_REASON_CHARS} are kept with each paid call"
        )
    tried = justification.free_alternatives_tried
    if not tried:
        problems.append("free_alternatives_tried is empty: name the free models tried")
    elif len(tried) > MAX_ALTERNATIVES:
        problems.append(
            f"free_alternatives_tried names {len(tried)} models; at most {MAX_ALTERNATIVES}"
        )
        tried = ()
    for alias in tried:
        if len(alias) > MAX_ALIAS_CHARS or alias not in catalog:
            problems.append(f"free_alternatives_tried names {_shown(alias)}, not in the catalog")
        elif not catalog[alias].free:
            problems.append(f"free_alternatives_tried names {alias!r}, which is not free")
    if not re.fullmatch(_DELTA, justification.expected_quality_delta, re.ASCII):
        problems.append(
            "expected_quality_delta must be an ASCII percentage like '+30%' or '-5.5%', "
            f"got {_shown(justification.expected_quality_delta)}"
        )
    return problems
