"""Find the files, parse each once, run every enabled rule in one walk, apply suppressions."""

from __future__ import annotations

import ast
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tta_lint.config import LintConfig, find_config, load_config
from tta_lint.context import FileContext, ImportRecord
from tta_lint.model import Finding, UsageError
from tta_lint.rules import CHECKERS, RULES, UNPARSABLE
from tta_lint.rules.base import Checker
from tta_lint.suppression import ALL, suppressions

__all__ = ["LintResult", "discover", "lint_paths", "lint_source"]

_CHECKERS_BY_ID: dict[str, type[Checker]] = {c.rule.id: c for c in CHECKERS}
_RULE_NAMES = {rule.name: rule.id for rule in RULES.values()}


@dataclass(slots=True)
class LintResult:
    """What one run found, and how much it looked at."""

    findings: list[Finding] = field(default_factory=list)
    files_checked: int = 0
    suppressed: int = 0
    config_source: Path | None = None

    @property
    def files_with_findings(self) -> int:
        """How many files have at least one finding."""
        return len({finding.path for finding in self.findings})


def lint_paths(
    paths: Sequence[str | os.PathLike[str]], config: LintConfig | None = None
) -> LintResult:
    """Lint files and directories (``.py`` files under them, minus the excluded ones).

    Without ``config``, the nearest ``pyproject.toml`` with ``[tool.tta.lint]`` above
    the paths is used (defaults when there is none). Raises :class:`UsageError` for
    a path that does not exist or a configuration that cannot be used.
    """
    targets = [Path(p) for p in paths] or [Path()]
    if config is None:
        config = load_config(find_config(_common_directory(targets)))
    _package_cache.clear()  # a long-lived process may see packages come and go
    result = LintResult(config_source=config.source)
    for path in discover(targets, config):
        findings, suppressed = _lint_file(path, config)
        result.findings.extend(findings)
        result.suppressed += suppressed
        result.files_checked += 1
    result.findings.sort(key=Finding.sort_key)
    return result


def lint_source(
    source: str,
    path: str = "example.py",
    *,
    config: LintConfig | None = None,
    module: str | None = None,
) -> list[Finding]:
    """Lint ``source`` as if it were the file ``path`` (module ``module``).

    ``path`` is matched against the configuration's patterns as given; ``module``
    (default: the file's stem) is what import contracts see.
    """
    config = config or LintConfig()
    name = module if module is not None else Path(path).stem
    findings, _ = _lint_text(source, path, path, name, config)
    return sorted(findings, key=Finding.sort_key)


def discover(targets: Iterable[Path], config: LintConfig) -> list[Path]:
    """The files to lint: given files as they are, ``*.py`` under given directories.

    Excluded paths are skipped in both cases, so a pre-commit run honours them.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for target in targets:
        if target.is_file():
            candidates: Iterable[Path] = [target]
        elif target.is_dir():
            candidates = _walk_directory(target, config)
        else:
            raise UsageError(f"{target}: no such file or directory")
        for path in candidates:
            key = path.absolute()
            if key not in seen and not config.is_excluded(config.relative(path)):
                seen.add(key)
                found.append(path)
    return found


def _walk_directory(directory: Path, config: LintConfig) -> list[Path]:
    files: list[Path] = []
    for root, dirs, names in os.walk(directory):
        base = Path(root)
        dirs[:] = sorted(d for d in dirs if not config.is_excluded(config.relative(base / d)))
        files.extend(base / name for name in sorted(names) if name.endswith(".py"))
    return files


def _common_directory(targets: list[Path]) -> Path:
    absolute = [t.absolute() if t.is_dir() else t.absolute().parent for t in targets]
    return Path(os.path.commonpath([str(p) for p in absolute]))


_package_cache: dict[Path, str] = {}


def _package_of(directory: Path) -> str:
    """Dotted name of the package ``directory`` is ("" when it is not one)."""
    cached = _package_cache.get(directory)
    if cached is None:
        if (directory / "__init__.py").is_file() and directory.parent != directory:
            parent = _package_of(directory.parent)
            cached = f"{parent}.{directory.name}" if parent else directory.name
        else:
            cached = ""
        _package_cache[directory] = cached
    return cached


def module_name(path: Path) -> str:
    """``tta_secrets.loader`` for ``.../src/tta_secrets/loader.py``; the stem outside packages."""
    package = _package_of(path.absolute().parent)
    if path.stem == "__init__":
        return package or path.stem
    return f"{package}.{path.stem}" if package else path.stem


def _lint_file(path: Path, config: LintConfig) -> tuple[list[Finding], int]:
    display = path.as_posix()
    try:
        source = path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        ctx = FileContext(display, "", "")
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8"
        ctx.report(UNPARSABLE, ast.Pass(lineno=1, col_offset=0), f"cannot read: {reason}")
        return ctx.findings, 0
    return _lint_text(source, display, config.relative(path), module_name(path), config)


def _lint_text(
    source: str, display: str, match_path: str, module: str, config: LintConfig
) -> tuple[list[Finding], int]:
    enabled = config.rules_for(match_path)
    ctx = FileContext(display, module, source, match_path=match_path, contracts=config.imports)
    try:
        tree = ast.parse(source, display)
    except (SyntaxError, ValueError) as error:
        line = getattr(error, "lineno", None) or 1
        offset = max((getattr(error, "offset", None) or 1) - 1, 0)
        detail = getattr(error, "msg", None) or str(error)
        ctx.report(UNPARSABLE, ast.Pass(lineno=line, col_offset=offset), f"syntax error: {detail}")
        return ctx.findings, 0
    if not enabled:
        return [], 0
    checkers = [_CHECKERS_BY_ID[rule_id](ctx) for rule_id in sorted(enabled)]
    _walk(tree, _dispatch(checkers, ctx))
    for checker in checkers:
        checker.finish()
    if not ctx.findings:
        return [], 0
    ignored = suppressions(source, _RULE_NAMES)
    if not ignored:
        return ctx.findings, 0
    kept = [f for f in ctx.findings if not _is_suppressed(f, ignored)]
    return kept, len(ctx.findings) - len(kept)


def _is_suppressed(finding: Finding, ignored: dict[int, frozenset[str]]) -> bool:
    for line in {finding.line, finding.end_line}:
        rules = ignored.get(line)
        if rules is not None and (rules is ALL or finding.rule.id in rules):
            return True
    return False


Handler = Callable[[ast.AST], None]


def _dispatch(checkers: list[Checker], ctx: FileContext) -> dict[type[ast.AST], list[Handler]]:
    collector = _Collector(ctx)
    dispatch: dict[type[ast.AST], list[Handler]] = {
        ast.Import: [collector.on_import],
        ast.ImportFrom: [collector.on_import_from],
        ast.If: [collector.on_if],
        ast.Assign: [collector.on_assign],
    }
    for checker in checkers:
        for node_type in checker.node_types:
            dispatch.setdefault(node_type, []).append(checker.visit)
    return dispatch


def _walk(tree: ast.AST, dispatch: dict[type[ast.AST], list[Handler]]) -> None:
    """Visit every node once, parents before children."""
    stack = [tree]
    pop = stack.pop
    push = stack.append
    ast_type = ast.AST
    while stack:
        node = pop()
        handlers = dispatch.get(type(node))
        if handlers is not None:
            for handler in handlers:
                handler(node)
        for name in node._fields:
            value = getattr(node, name, None)
            if isinstance(value, ast_type):
                push(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast_type):
                        push(item)


class _Collector:
    """The engine's own part of the walk: imports, ``TYPE_CHECKING`` blocks, constants."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx

    def on_import(self, node: ast.AST) -> None:
        if not isinstance(node, ast.Import):
            return
        typing_only = id(node) in self.ctx.type_checking_nodes
        for alias in node.names:
            if alias.asname:
                self.ctx.aliases[alias.asname] = alias.name
            else:
                top = alias.name.partition(".")[0]
                self.ctx.aliases[top] = top
            self.ctx.imports.append(ImportRecord(alias.name, node, typing_only))

    def on_import_from(self, node: ast.AST) -> None:
        if not isinstance(node, ast.ImportFrom):
            return
        base = self._absolute(node.module or "", node.level)
        if not base:
            return
        typing_only = id(node) in self.ctx.type_checking_nodes
        for alias in node.names:
            qualified = base if alias.name == "*" else f"{base}.{alias.name}"
            if alias.name != "*":
                self.ctx.aliases[alias.asname or alias.name] = qualified
            self.ctx.imports.append(ImportRecord(qualified, node, typing_only))

    def _absolute(self, module: str, level: int) -> str:
        if not level:
            return module
        parts = self.ctx.package.split(".") if self.ctx.package else []
        if level - 1 > len(parts) or not parts:
            return ""
        base = parts[: len(parts) - (level - 1)]
        return ".".join([*base, module] if module else base)

    def on_if(self, node: ast.AST) -> None:
        if not isinstance(node, ast.If):
            return
        test = node.test
        name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
        if name == "TYPE_CHECKING":
            self.ctx.type_checking_nodes.update(
                id(child) for stmt in node.body for child in ast.walk(stmt)
            )

    def on_assign(self, node: ast.AST) -> None:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            self.ctx.constants[node.targets[0].id] = node.value.value
