"""TTA.dev passes its own lint, under the configuration of its root pyproject.toml."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tta_lint import LintConfig, lint_paths, parse_config, render

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = ROOT / "pyproject.toml"


def project_config() -> LintConfig:
    table = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["tool"]["tta"]["lint"]
    return parse_config(table, root=ROOT, source=PYPROJECT)


def _lint(*paths: str) -> str:
    result = lint_paths([ROOT / p for p in paths], project_config())
    assert result.files_checked > 0
    return render(result, "text") if result.findings else ""


def test_the_project_passes_its_own_lint() -> None:
    assert _lint("packages", "examples", "benchmarks") == ""


def test_examples_are_clean_under_every_rule() -> None:
    result = lint_paths([ROOT / "examples"], LintConfig(root=ROOT))
    assert result.findings == [], render(result, "text")


def test_the_project_declares_its_layering() -> None:
    contracts = {contract.name: contract for contract in project_config().imports}
    assert (
        "tta_dev_integrations"
        in contracts["core and secrets stay below the integrations"].forbidden
    )
    assert contracts["nothing imports the CLI"].forbidden == ("tta_cli",)
    assert "tta_dev_primitives" in contracts["secrets depend on nothing of ours"].forbidden
