"""Reports: text with a summary, JSON, SARIF 2.1.0."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tta_lint import RULES, LintConfig, lint_paths, render
from tta_lint.engine import LintResult


@pytest.fixture
def result(tmp_path: Path) -> LintResult:
    (tmp_path / "a.py").write_text("import openai\nlabel = 'é'; import anthropic\n")
    (tmp_path / "b.py").write_text("import groq  # tta: ignore[TTA006]\n")
    (tmp_path / "c.py").write_text("x = 1\n")
    return lint_paths([tmp_path], LintConfig(root=tmp_path))


def test_text_lists_findings_with_fixes_and_a_summary(result: LintResult) -> None:
    lines = render(result, "text").splitlines()
    path = result.findings[0].path
    assert lines[0].startswith(f"{path}:1:1: TTA006 direct import of the openai SDK")
    assert lines[1] == f"    fix: {RULES['TTA006'].fix}"
    assert lines[2].startswith(f"{path}:2:14: TTA006")
    assert lines[-1] == "tta-lint: 2 findings in 1 file (TTA006 x2; 3 files checked, 1 suppressed)"


def test_text_when_clean(tmp_path: Path) -> None:
    (tmp_path / "c.py").write_text("x = 1\n")
    text = render(lint_paths([tmp_path], LintConfig(root=tmp_path)), "text")
    assert text == "tta-lint: no findings (1 file checked)\n"


def test_json(result: LintResult) -> None:
    document = json.loads(render(result, "json"))
    assert document["summary"] == {
        "findings": 2,
        "files_checked": 3,
        "files_with_findings": 1,
        "suppressed": 1,
        "by_rule": {"TTA006": 2},
    }
    first = document["findings"][0]
    assert first["rule"] == "TTA006"
    assert first["name"] == "direct-llm-call"
    assert (first["line"], first["column"], first["end_line"], first["end_column"]) == (1, 1, 1, 14)
    assert first["fix"] == RULES["TTA006"].fix


def test_sarif(result: LintResult) -> None:
    log = json.loads(render(result, "sarif"))
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "tta-lint"
    ids = [rule["id"] for rule in driver["rules"]]
    assert ids == ["TTA000", *RULES]
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["help"]["text"].startswith("Fix: ")
    assert len(run["results"]) == 2
    for finding, sarif in zip(result.findings, run["results"], strict=True):
        assert ids[sarif["ruleIndex"]] == sarif["ruleId"] == finding.rule.id
        assert sarif["level"] == "error"
        location = sarif["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == Path(finding.path).as_uri()
        region = location["region"]
        assert region["startLine"] == finding.line >= 1
        assert region["startColumn"] == finding.column >= 1
        assert region["endColumn"] >= region["startColumn"]
    # Columns count characters: "é" is one, though two bytes in UTF-8.
    assert run["results"][1]["locations"][0]["physicalLocation"]["region"]["startColumn"] == 14


def test_unknown_format(result: LintResult) -> None:
    with pytest.raises(ValueError, match="use one of text, json, sarif"):
        render(result, "xml")


def test_sarif_relative_paths_use_the_source_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my flow.py").write_text("import openai\n")
    monkeypatch.chdir(tmp_path)
    log = json.loads(render(lint_paths(["my flow.py"], LintConfig(root=tmp_path)), "sarif"))
    location = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
    assert location["artifactLocation"] == {"uri": "my%20flow.py", "uriBaseId": "%SRCROOT%"}
