"""Every rule of tta-lint: its checker and its :class:`~tta_lint.model.Rule` record."""

from __future__ import annotations

from tta_lint.model import Rule
from tta_lint.rules.base import Checker
from tta_lint.rules.cache import MemoDictChecker
from tta_lint.rules.composition import (
    ExecuteChainChecker,
    GatherExecuteChecker,
    TimeoutExecuteChecker,
)
from tta_lint.rules.imports import ForbiddenImportChecker
from tta_lint.rules.llm import DirectLLMChecker
from tta_lint.rules.retry import RetryLoopChecker
from tta_lint.rules.secrets import SecretLiteralChecker
from tta_lint.rules.subclass import ExecuteOverrideChecker

__all__ = ["CHECKERS", "RULES", "UNPARSABLE", "Checker"]

#: Reported for a file that cannot be read or parsed; always on.
UNPARSABLE = Rule(
    "TTA000",
    "unparsable",
    "file cannot be read or parsed",
    "fix the syntax error (or the encoding: source must be UTF-8)",
)

#: One checker class per rule, in rule-id order.
CHECKERS: tuple[type[Checker], ...] = (
    RetryLoopChecker,
    TimeoutExecuteChecker,
    GatherExecuteChecker,
    ExecuteChainChecker,
    MemoDictChecker,
    DirectLLMChecker,
    ExecuteOverrideChecker,
    SecretLiteralChecker,
    ForbiddenImportChecker,
)

#: The rules that can be enabled and disabled, by id.
RULES: dict[str, Rule] = {checker.rule.id: checker.rule for checker in CHECKERS}
