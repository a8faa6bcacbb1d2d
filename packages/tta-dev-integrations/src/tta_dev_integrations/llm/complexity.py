"""Guessing how hard a prompt is, when the caller says ``complexity="auto"``.

A score adds up simple, visible signals; thresholds turn it into a tier:

* **length**: +0.6 past 400 characters, +1.2 past 1,500, +2 past 4,000;
* **code**: +1 for a fenced block or several code-looking lines (``def``, ``class``,
  ``function``, braces and semicolons);
* **structure**: +0.5 for a numbered or bulleted list of three items or more, +0.5 for
  several questions or requirements ("and also", "then", "must");
* **vocabulary**: +0.8 per hard word (design, architecture, refactor, optimise,
  concurrency, distributed, security, algorithm, prove, migrate, debug, dashboard,
  visualization, trade-off, scalable), at most +3.2; -0.8 per easy one (translate,
  summarise, typo, rename, define, list, classify, greet, spell), at most -1.6.

``high`` from 2.5, ``medium`` from 1.0, else ``low``. The reasons are returned with the
tier, and shown in the routing decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

__all__ = ["Complexity", "ComplexityEstimate", "estimate_complexity"]

Complexity = Literal["low", "medium", "high"]


@cache
def _patterns() -> tuple[re.Pattern[str], ...]:
    """Code lines, list items, requirements, hard words, easy words.

    Compiled on the first estimate, not at import (about 1 ms: most imports never ask).
    """
    hard = (
        r"\b(design|architect\w*|refactor\w*|optimi[sz]\w*|concurren\w*|distributed|security|"
        r"algorithm\w*|prove|proof|migrat\w*|debug\w*|dashboard|visuali[sz]ation|trade-?offs?|"
        r"scalab\w*)\b"
    )
    easy = r"\b(translate|summari[sz]e|typo|rename|define|list|classify|greet|hello|spell\w*)\b"
    return (
        re.compile(r"^\s*(def |class |function |import |from \S+ import|.*[{};]\s*$)", re.M),
        re.compile(r"^\s*(\d+[.)]|[-*•])\s+\S", re.M),
        re.compile(r"\b(and also|then|must|should also|additionally)\b|\?", re.IGNORECASE),
        re.compile(hard, re.IGNORECASE),
        re.compile(easy, re.IGNORECASE),
    )


@dataclass(frozen=True, slots=True)
class ComplexityEstimate:
    """The guessed tier, the score behind it, and why."""

    tier: Complexity
    score: float
    reasons: tuple[str, ...]


def estimate_complexity(prompt: str) -> ComplexityEstimate:
    """Estimate the tier of ``prompt`` from its length, code, structure and wording."""
    code_line, list_item, requirements, hard_word, easy_word = _patterns()
    score = 0.0
    reasons: list[str] = []
    length = len(prompt)
    for limit, points in ((4000, 2.0), (1500, 1.2), (400, 0.6)):
        if length > limit:
            score += points
            reasons.append(f"long ({length} characters): +{points}")
            break
    if "```" in prompt or len(code_line.findall(prompt)) >= 3:
        score += 1.0
        reasons.append("contains code: +1.0")
    if len(list_item.findall(prompt)) >= 3:
        score += 0.5
        reasons.append("structured list: +0.5")
    if len(requirements.findall(prompt)) >= 2:
        score += 0.5
        reasons.append("several requirements or questions: +0.5")
    hard = sorted({m.lower() for m in hard_word.findall(prompt)})
    if hard:
        points = min(3.2, 0.8 * len(hard))
        score += points
        reasons.append(f"hard words {', '.join(hard)}: +{points:.1f}")
    easy = sorted({m.lower() for m in easy_word.findall(prompt)})
    if easy:
        points = min(1.6, 0.8 * len(easy))
        score -= points
        reasons.append(f"easy words {', '.join(easy)}: -{points:.1f}")
    tier: Complexity = "high" if score >= 2.5 else "medium" if score >= 1.0 else "low"
    return ComplexityEstimate(tier, round(score, 2), tuple(reasons))
