"""The ``tta`` application: one Typer app, each subcommand registered by its own module.

Command modules import only Typer at load time and everything heavy inside the
command body, so ``tta --help`` stays fast. A :class:`~tta_cli.errors.CLIError`
(or any other exception) ends the run as one readable line and exit code 1; the
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import sys
from importlib import import_module

import typer

from tta_cli.errors import EXIT_FAILURE, CLIError

__all__ = ["COMMAND_MODULES", "app", "main"]

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


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    """TTA.dev: composable, observable AI agent workflows."""
    _State.debug = debug


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        module = import_module(f"tta_cli.commands.{name}")
        module.register(app)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Run ``tta``; returns the exit code (0 ok, 1 failure, 2 usage)."""
    try:
        app(args=argv, prog_name="tta", standalone_mode=True)
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else EXIT_FAILURE)
    except CLIError as error:
        if _State.debug:
            raise
        sys.stderr.write(f"tta: error: {error}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        sys.stderr.write("tta: interrupted\n")
        return 130
    except Exception as error:
        if _State.debug:
            raise
        sys.stderr.write(f"tta: error: {type(error).__name__}: {error} (run with --debug)\n")
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
