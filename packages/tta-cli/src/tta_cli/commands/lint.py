"""``tta lint [PATHS]``: primitive-usage and import-structure checks (tta-lint).

Prints each finding as ``path:line:col: RULE message`` with its fix and a summary,
or the whole report as JSON or SARIF 2.1.0; ``--output`` writes it to a file.
Exit code 1 when something is found, 0 when clean, 2 for a usage error.
"""

from __future__ import annotations

from pathlib import Path

import typer

from tta_cli.errors import CLIError

__all__ = ["lint_command", "register"]

_FORMATS = ("text", "json", "sarif")


def lint_command(
    paths: list[Path] = typer.Argument(
        None, help="Files and directories to check (default: the current directory)."
    ),
    fmt: str = typer.Option("text", "--format", "-f", help="text, json or sarif."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report here."),
    config: Path | None = typer.Option(
        None, "--config", help="TOML file with [tool.tta.lint] (default: nearest pyproject.toml)."
    ),
) -> None:
    """Check code against TTA.dev's primitive-usage and import-structure rules."""
    from tta_lint import UsageError
    from tta_lint.__main__ import run

    if fmt not in _FORMATS:
        raise typer.BadParameter(f"use one of {', '.join(_FORMATS)}", param_hint="--format")
    targets = [str(p) for p in paths] if paths else ["."]
    try:
        code, report = run(targets, fmt=fmt, config_path=config)
    except UsageError as error:
        raise CLIError(
            str(error), hint="check the paths and the [tool.tta.lint] table (tta-lint --help)"
        ) from None
    if output is None:
        typer.echo(report, nl=False)
    else:
        try:
            output.write_text(report, encoding="utf-8")
        except OSError as error:
            raise CLIError(
                f"cannot write the report to {output}: {error.strerror}",
                hint="choose a writable --output path",
            ) from None
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    """Add ``tta lint`` to ``app``."""
    app.command(name="lint")(lint_command)
