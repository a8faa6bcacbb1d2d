"""tta-lint: checks that code built on TTA.dev uses its primitives the intended way.

Standard library only, so a pre-commit hook runs it without installing anything::

    from tta_lint import lint_paths, render

    result = lint_paths(["src"])
    print(render(result, "text"))

Rules, configuration (``[tool.tta.lint]``) and suppression (``# tta: ignore[TTA001]``)
are described in the package README.
"""

from tta_lint.config import ConfigError, LintConfig, find_config, load_config, parse_config
from tta_lint.contracts import ImportContract
from tta_lint.engine import LintResult, lint_paths, lint_source
from tta_lint.model import Finding, Rule, UsageError
from tta_lint.report import FORMATS, render
from tta_lint.rules import RULES, UNPARSABLE


def __getattr__(name: str) -> str:
    # Looked up on first use: importing importlib.metadata costs more than tta-lint's
    # own modules, and most runs never ask for the version.
    if name == "__version__":
        from tta_lint.version import package_version

        return package_version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "FORMATS",
    "RULES",
    "UNPARSABLE",
    "ConfigError",
    "Finding",
    "ImportContract",
    "LintConfig",
    "LintResult",
    "Rule",
    "UsageError",
    "__version__",
    "find_config",
    "lint_paths",
    "lint_source",
    "load_config",
    "parse_config",
    "render",
]
