"""The ``tta`` application: one Typer app, each subcommand registered by its own module.

Command modules import only Typer at load time and everything heavy inside the
command body, so ``tta --help`` stays fast. Every command follows one exit-code
scheme (see :mod:`tta_cli.errors`): 0 success, 1 runtime failure (a
:class:`~tta_cli.errors.CLIError` or any other exception, printed as a readable
message; the traceback only with ``--debug``), 2 usage error, 130 interrupted.
"""

from __future__ import annotations

import sys
from importlib import import_module

import typer

from tta_cli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, CLIError

__all__ = ["COMMAND_MODULES", "app", "main", "version_line"]

#: Modules under ``tta_cli.commands`` that each define ``register(app)``.
COMMAND_MODULES = (
    "demo",
    "ask",
    "budget",
    "models",
    "coder",
    "traces",
    "metrics",
    "secrets",
    "git",
    "lint",
)

app = typer.Typer(
    name="tta",
    help="TTA.dev: composable, observable AI agent workflows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class _State:
    debug = False


def version_line() -> str:
    """``tta 0.1.0 (tta-dev-primitives 0.1.0, ..., Python 3.11.9)``: what ``--version`` prints."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    parts = [
        f"{name} {installed(name)}"
        for name in ("tta-dev-primitives", "tta-dev-integrations", "tta-secrets", "tta-lint")
    ]
    return f"tta {installed('tta-cli')} ({', '.join(parts)}, Python {platform.python_version()})"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
    version: bool = typer.Option(
        False,
        "--version",
        is_eager=True,
        callback=_print_version,
        help="Print the version of tta and its packages, and exit.",
    ),
) -> None:
    """TTA.dev: composable, observable AI agent workflows."""
    _State.debug = debug


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        module = import_module(f"tta_cli.commands.{name}")
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Run ``tta``; returns the exit code: 0 ok, 1 failure, 2 usage error, 130 interrupted."""
    from typer._click.exceptions import ClickException
    from typer.exceptions import Abort

    _State.debug = False
    try:
        result = typer.main.get_command(app).main(args=argv, prog_name="tta", standalone_mode=False)
    except ClickException as error:  # a usage error (2) or another refusal of click's (1)
        error.show()
        return error.exit_code
    except CLIError as error:
        if _State.debug:
            raise
        sys.stderr.write(f"tta: error: {error}\n")
        return error.exit_code
    except (KeyboardInterrupt, Abort):
        return _interrupted()
    except Exception as error:
        if _State.debug:
            raise
        # A group's sub-errors are listed below its line (a terminal shows no
        # "sub-exceptions" otherwise), and Python parameters are named as flags.
        first, _, subs = str(CLIError.from_error(error)).partition("\n")
        sys.stderr.write(f"tta: error: {type(error).__name__}: {first} (run with --debug)\n")
        if subs:
            sys.stderr.write(subs + "\n")
        return EXIT_FAILURE
    # standalone_mode=False: a command that exits early (typer.Exit) returns its code,
    # and Ctrl-C inside a command arrives as 130.
    code = result if isinstance(result, int) and not isinstance(result, bool) else EXIT_OK
    return _interrupted() if code == EXIT_INTERRUPTED else code


def _interrupted() -> int:
    sys.stderr.write("tta: interrupted\n")
    return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
