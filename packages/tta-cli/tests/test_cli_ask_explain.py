"""``tta ask --explain``: the routing decision, with no model called and nothing recorded."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tta_dev_integrations.llm.routing import Candidate, RoutingDecision


def test_explain_prints_the_decision_and_records_nothing(
    tta_home: Path,
    app_with: Callable[..., typer.Typer],
    ledger_entries: Callable[[Path, str], list],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "GEMINI_API_KEY",
                "GOOGLE_API_KEY", "GITHUB_TOKEN", "HF_TOKEN"):  # fmt: skip
        monkeypatch.delenv(key, raising=False)
    args = ["ask", "Design a distributed cache", "--explain", "--complexity", "high",
            "--scope", "cli"]  # fmt: skip
    result = CliRunner().invoke(app_with("ask"), args)
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("profile careful, tier high (given)")
    assert "a dry run: no model was called" in out
    # Every catalog model is listed with its reason; without keys the cloud ones are out.
    assert "gpt-4o" in out
    assert "provider openai is not available" in out
    assert ledger_entries(tta_home, "cli") == []


def test_the_explanation_marks_the_choice_and_shows_the_evidence() -> None:
    from tta_cli.render.routing import explain_decision

    candidates = (
        Candidate("kimi", "openrouter", True, 0.82, 0.0, True, "allowed", 0.97, 12.0),
        Candidate("gpt-4.1", "openai", False, 0.84, 0.0123, False, "paid, and no valid "
                  "justification", 0.97, 0.0),
    )  # fmt: skip
    decision = RoutingDecision(
        profile="careful", complexity="high", complexity_source="scored",
        complexity_reasons=("prompt score 0.412 against the paid threshold 0.3",),
        candidates=candidates, chosen="kimi", reason="best available", reason_code="best_available",
        justification_problems=("no justification",),
    )  # fmt: skip
    lines = explain_decision(decision).splitlines()
    assert lines[0] == (
        "profile careful, tier high (scored: prompt score 0.412 against the paid threshold 0.3)"
    )
    assert lines[1] == "would call kimi: best available"
    assert lines[2] == "justification: no justification"
    kimi = next(line for line in lines if "kimi " in line and line.startswith(" *"))
    assert "free" in kimi
    assert "(12 judged)" in kimi
    assert "$0.0123" in next(line for line in lines if "gpt-4.1" in line)
