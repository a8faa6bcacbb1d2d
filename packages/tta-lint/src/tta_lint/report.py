"""Findings as text (with a summary), JSON, or SARIF 2.1.0 for code-scanning tools."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tta_lint.engine import LintResult
from tta_lint.model import Finding
from tta_lint.rules import RULES, UNPARSABLE
from tta_lint.version import package_version

__all__ = ["FORMATS", "render", "render_json", "render_sarif", "render_text"]

FORMATS = ("text", "json", "sarif")
_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_INFO_URI = "https://github.com/theinterneti/TTA.dev/tree/main/packages/tta-lint"


def render(result: LintResult, fmt: str) -> str:
    """``result`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "text":
        return render_text(result)
    if fmt == "json":
        return render_json(result)
    if fmt == "sarif":
        return render_sarif(result)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")


def render_text(result: LintResult) -> str:
    """One line per finding (``path:line:col: ID message``, then the fix), and a summary."""
    lines: list[str] = []
    for f in result.findings:
        lines.append(f"{f.path}:{f.line}:{f.column}: {f.rule.id} {f.message}")
        lines.append(f"    fix: {f.fix}")
    lines.append(_summary(result))
    return "\n".join(lines) + "\n"


def _summary(result: LintResult) -> str:
    files = f"{result.files_checked} file{'s' if result.files_checked != 1 else ''} checked"
    suppressed = f", {result.suppressed} suppressed" if result.suppressed else ""
    if not result.findings:
        return f"tta-lint: no findings ({files}{suppressed})"
    by_rule = Counter(f.rule.id for f in result.findings)
    counts = ", ".join(f"{rule} x{n}" for rule, n in sorted(by_rule.items()))
    count = len(result.findings)
    return (
        f"tta-lint: {count} finding{'s' if count != 1 else ''} in "
        f"{result.files_with_findings} file{'s' if result.files_with_findings != 1 else ''} "
        f"({counts}; {files}{suppressed})"
    )


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule.id,
        "name": finding.rule.name,
        "message": finding.message,
        "fix": finding.fix,
        "path": finding.path,
        "line": finding.line,
        "column": finding.column,
        "end_line": finding.end_line,
        "end_column": finding.end_column,
    }


def render_json(result: LintResult) -> str:
    """``{"findings": [...], "summary": {...}}``; stable keys, for editors and scripts."""
    by_rule = Counter(f.rule.id for f in result.findings)
    document = {
        "version": package_version(),
        "findings": [_finding_json(f) for f in result.findings],
        "summary": {
            "findings": len(result.findings),
            "files_checked": result.files_checked,
            "files_with_findings": result.files_with_findings,
            "suppressed": result.suppressed,
            "by_rule": dict(sorted(by_rule.items())),
        },
    }
    return json.dumps(document, indent=2) + "\n"


def _artifact(path: str) -> dict[str, str]:
    """A relative path against the checkout's root; an absolute one as a file URI."""
    if Path(path).is_absolute():
        return {"uri": Path(path).as_uri()}
    return {"uri": quote(path), "uriBaseId": "%SRCROOT%"}


def render_sarif(result: LintResult) -> str:
    """A SARIF 2.1.0 log with one run: every rule described, one result per finding."""
    rules = [UNPARSABLE, *RULES.values()]
    index = {rule.id: i for i, rule in enumerate(rules)}
    descriptors = [
        {
            "id": rule.id,
            "name": rule.name,
            "shortDescription": {"text": rule.message},
            "help": {"text": f"Fix: {rule.fix}"},
            "defaultConfiguration": {"level": "error"},
            "helpUri": f"{_INFO_URI}#{rule.id.lower()}",
        }
        for rule in rules
    ]
    results = [
        {
            "ruleId": f.rule.id,
            "ruleIndex": index[f.rule.id],
            "level": "error",
            "message": {"text": f"{f.message}. Fix: {f.fix}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact(f.path),
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": max(f.end_column, f.column),
                        },
                    }
                }
            ],
        }
        for f in result.findings
    ]
    log = {
        "$schema": _SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tta-lint",
                        "version": package_version(),
                        "informationUri": _INFO_URI,
                        "rules": descriptors,
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"
