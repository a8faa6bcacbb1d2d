"""``tta-lint [PATHS] [--format text|json|sarif] [--output FILE]``: exit 1 on findings."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tta_lint.config import find_config, load_config, resolve_rules
from tta_lint.engine import lint_paths
from tta_lint.model import UsageError
from tta_lint.report import FORMATS, render
from tta_lint.rules import RULES, UNPARSABLE

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_USAGE", "main"]

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tta-lint",
        description="Check that code uses TTA.dev's primitives the intended way and "
        "keeps its import structure. Exit code: 0 clean, 1 findings, 2 usage error.",
    )
    parser.add_argument("paths", nargs="*", default=["."], help="files and directories")
    parser.add_argument("--format", choices=FORMATS, default="text", help="report format")
    parser.add_argument("--output", type=Path, help="write the report to this file")
    parser.add_argument(
        "--config", type=Path, help="TOML file with the [tool.tta.lint] table (default: nearest)"
    )
    parser.add_argument("--enable", help="only these rules (comma-separated ids or names)")
    parser.add_argument("--disable", help="also skip these rules (comma-separated)")
    parser.add_argument("--list-rules", action="store_true", help="print the rules and exit")
    parser.add_argument(
        "--version", action=_VersionAction, help="print tta-lint's version and exit"
    )
    return parser


class _VersionAction(argparse.Action):
    """``--version``, looked up only when asked (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        from tta_lint.version import package_version

        sys.stdout.write(f"tta-lint {package_version()}\n")
        parser.exit()


def rules_table() -> str:
    """Every rule as ``ID  name: message -> fix``, one per line."""
    return "".join(
        f"{rule.id}  {rule.name}: {rule.message}\n        fix: {rule.fix}\n"
        for rule in (UNPARSABLE, *RULES.values())
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the linter; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list_rules:
        sys.stdout.write(rules_table())
        return EXIT_CLEAN
    try:
        code, report = run(
            args.paths,
            fmt=args.format,
            config_path=args.config,
            enable=args.enable,
            disable=args.disable,
        )
        if args.output is not None:
            try:
                args.output.write_text(report, encoding="utf-8")
            except OSError as error:
                raise UsageError(f"cannot write {args.output}: {error.strerror}") from error
        else:
            sys.stdout.write(report)
    except UsageError as error:
        sys.stderr.write(f"tta-lint: error: {error}\n")
        return EXIT_USAGE
    return code


def run(
    paths: Sequence[str],
    *,
    fmt: str = "text",
    config_path: Path | None = None,
    enable: str | None = None,
    disable: str | None = None,
) -> tuple[int, str]:
    """Lint ``paths``; the exit code and the report. Raises :class:`UsageError`."""
    from dataclasses import replace

    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if config_path is not None and not config_path.is_file():
        raise UsageError(f"{config_path}: no such configuration file")
    targets = [Path(p) for p in paths] or [Path()]
    for target in targets:
        if not target.exists():
            raise UsageError(f"{target}: no such file or directory")
    if config_path is None:
        config_path = find_config(_start(targets))
    config = load_config(config_path)
    if enable:
        config = replace(config, rules=resolve_rules(enable.split(","), "--enable"))
    if disable:
        config = replace(
            config, rules=config.rules - resolve_rules(disable.split(","), "--disable")
        )
    result = lint_paths(targets, config)
    return (EXIT_FINDINGS if result.findings else EXIT_CLEAN), render(result, fmt)


def _start(targets: list[Path]) -> Path:
    import os

    folders = [str(t.absolute() if t.is_dir() else t.absolute().parent) for t in targets]
    return Path(os.path.commonpath(folders))


if __name__ == "__main__":
    sys.exit(main())
