"""The two records every part of tta-lint shares: a :class:`Rule` and a :class:`Finding`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding", "Rule", "UsageError"]


@dataclass(frozen=True, slots=True)
class Rule:
    """A check: a stable id (``TTA001``), a short name, what it found and how to fix it."""

    id: str
    name: str
    message: str
    fix: str


@dataclass(frozen=True, slots=True)
class Finding:
    """One place where a rule applies.

    ``line``/``end_line`` are 1-based; ``column``/``end_column`` are 1-based character
    columns. ``message`` is the rule's message, made specific where the rule can.
    """

    rule: Rule
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str

    @property
    def fix(self) -> str:
        """The suggested fix (the rule's)."""
        return self.rule.fix

    def sort_key(self) -> tuple[str, int, int, str]:
        """Order of findings in every report: path, line, column, rule."""
        return (self.path, self.line, self.column, self.rule.id)


class UsageError(ValueError):
    """tta-lint was asked for something it cannot do (a missing path, a bad option).

    Command lines turn it into exit code 2.
    """
