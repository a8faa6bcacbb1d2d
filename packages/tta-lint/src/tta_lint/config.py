"""``[tool.tta.lint]``: which rules run where, and the import contracts.

Looked up in the nearest ``pyproject.toml`` (from the linted paths upwards) that has
the table; the package README documents every key. Path patterns are relative to
the directory of the file that holds the configuration.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tta_lint.contracts import ImportContract
from tta_lint.globs import PathPattern
from tta_lint.model import UsageError
from tta_lint.rules import RULES

__all__ = [
    "DEFAULT_EXCLUDE",
    "ConfigError",
    "ImportContract",
    "LintConfig",
    "find_config",
    "load_config",
    "parse_config",
    "resolve_rules",
]

#: Never linted: tool and environment directories.
DEFAULT_EXCLUDE = (
    ".git",
    ".hg",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    "__pycache__",
    "build",
    "dist",
    "node_modules",
    ".cache",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    "*.egg-info",
    "site-packages",
)

_TOP_KEYS = frozenset({"enable", "disable", "exclude", "per-path-disable", "imports"})
_CONTRACT_KEYS = frozenset({"name", "sources", "forbidden", "allow", "type-checking"})


class ConfigError(UsageError):
    """The configuration cannot be used; the message names the key and how to fix it."""


@dataclass(frozen=True, slots=True)
class LintConfig:
    """What to lint and with which rules. ``root`` anchors the path patterns."""

    root: Path = field(default_factory=Path.cwd)
    rules: frozenset[str] = field(default_factory=lambda: frozenset(RULES))
    exclude: tuple[PathPattern, ...] = tuple(PathPattern(p) for p in DEFAULT_EXCLUDE)
    per_path_disable: tuple[tuple[PathPattern, frozenset[str]], ...] = ()
    imports: tuple[ImportContract, ...] = ()
    source: Path | None = None

    def rules_for(self, path: str) -> frozenset[str]:
        """The rule ids that run on ``path`` (relative to :attr:`root`)."""
        rules = self.rules
        for pattern, disabled in self.per_path_disable:
            if pattern.matches(path):
                rules -= disabled
        return rules

    def is_excluded(self, path: str) -> bool:
        """Whether ``path`` (relative to :attr:`root`) is never linted."""
        return any(pattern.matches(path) for pattern in self.exclude)

    def relative(self, path: Path) -> str:
        """``path`` relative to :attr:`root` (absolute when outside it), ``/``-separated."""
        absolute = path.absolute()
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            return absolute.as_posix()


def resolve_rules(selectors: Iterable[object], key: str) -> frozenset[str]:
    """Rule ids for ids or names (``TTA001`` or ``hand-rolled-retry``)."""
    by_name = {rule.name: rule.id for rule in RULES.values()}
    ids: set[str] = set()
    for selector in selectors:
        text = str(selector).strip()
        rule_id = text.upper() if text.upper() in RULES else by_name.get(text)
        if rule_id is None:
            known = ", ".join(f"{r.id} ({r.name})" for r in RULES.values())
            raise ConfigError(f"{key}: unknown rule {text!r}; known rules: {known}")
        ids.add(rule_id)
    return frozenset(ids)


def find_config(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start`` with ``[tool.tta.lint]``."""
    directory = start.absolute()
    if not directory.is_dir():
        directory = directory.parent
    for candidate_dir in (directory, *directory.parents):
        candidate = candidate_dir / "pyproject.toml"
        if candidate.is_file() and _lint_table(_read_toml(candidate)) is not None:
            return candidate
    return None


def load_config(path: Path | None) -> LintConfig:
    """The configuration in ``path`` (defaults when ``None``).

    ``path`` is a ``pyproject.toml`` with a ``[tool.tta.lint]`` table, or any TOML
    file holding that table, or whose top level is the table's content.
    """
    if path is None:
        return LintConfig()
    data = _read_toml(path)
    table = _lint_table(data)
    if table is None:
        if path.name == "pyproject.toml":
            return LintConfig(root=path.absolute().parent, source=path)
        table = data
    return parse_config(table, root=path.absolute().parent, source=path)


def parse_config(table: Mapping[str, Any], *, root: Path, source: Path | None = None) -> LintConfig:
    """Check and convert the ``[tool.tta.lint]`` table."""
    where = f"[tool.tta.lint] in {source}" if source else "[tool.tta.lint]"
    unknown = sorted(set(table) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(_TOP_KEYS)}")
    rules = frozenset(RULES)
    if "enable" in table:
        rules = resolve_rules(_strings(table["enable"], "enable", where), "enable")
    rules -= resolve_rules(_strings(table.get("disable", []), "disable", where), "disable")
    exclude = tuple(
        PathPattern(p)
        for p in (*DEFAULT_EXCLUDE, *_strings(table.get("exclude", []), "exclude", where))
    )
    per_path = table.get("per-path-disable", {})
    if not isinstance(per_path, Mapping):
        raise ConfigError(f"{where}: per-path-disable must be a table of pattern = [rules]")
    per_path_disable = tuple(
        (
            PathPattern(pattern),
            resolve_rules(_strings(ids, f"per-path-disable.{pattern}", where), pattern),
        )
        for pattern, ids in per_path.items()
    )
    contracts = table.get("imports", [])
    if not isinstance(contracts, list):
        raise ConfigError(
            f"{where}: imports must be an array of tables ([[tool.tta.lint.imports]])"
        )
    imports = tuple(_contract(c, i, where) for i, c in enumerate(contracts))
    return LintConfig(
        root=root,
        rules=rules,
        exclude=exclude,
        per_path_disable=per_path_disable,
        imports=imports,
        source=source,
    )


def _contract(raw: object, index: int, where: str) -> ImportContract:
    at = f"{where}: imports[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{at} must be a table with sources and forbidden")
    unknown = sorted(set(raw) - _CONTRACT_KEYS)
    if unknown:
        raise ConfigError(f"{at}: unknown key(s) {unknown}; known: {sorted(_CONTRACT_KEYS)}")
    for required in ("sources", "forbidden"):
        if not raw.get(required):
            raise ConfigError(f"{at}: `{required}` is required (a list of module names)")
    type_checking = raw.get("type-checking", True)
    if not isinstance(type_checking, bool):
        raise ConfigError(f"{at}: type-checking must be true or false")
    sources = _strings(raw["sources"], "sources", at)
    forbidden = _strings(raw["forbidden"], "forbidden", at)
    return ImportContract(
        name=str(raw.get("name") or f"{', '.join(sources)} must not import {', '.join(forbidden)}"),
        sources=sources,
        forbidden=forbidden,
        allow=_strings(raw.get("allow", []), "allow", at),
        type_checking=type_checking,
    )


def _strings(value: object, key: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: {key} must be a list of strings, got {value!r}")
    return tuple(value)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"cannot read the configuration {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from error


def _lint_table(data: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tool = data.get("tool")
    tta = tool.get("tta") if isinstance(tool, Mapping) else None
    lint = tta.get("lint") if isinstance(tta, Mapping) else None
    return lint if isinstance(lint, Mapping) else None
