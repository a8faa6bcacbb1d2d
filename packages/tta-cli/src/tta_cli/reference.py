"""The CLI reference, generated from the app itself so it cannot drift from the code.

``python -m tta_cli.reference > docs/CLI_REFERENCE.md`` rewrites it; a test fails when
the committed file differs from what this module renders.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

__all__ = ["render_reference"]


# Typer ships its own copy of click, so commands are read by shape, not by class.


def _subcommands(command: Any) -> dict[str, Any]:
    return dict(getattr(command, "commands", None) or {})


def _usage(command: Any, path: str) -> str:
    pieces = [path]
    if _subcommands(command):
        pieces.append("COMMAND")
    for param in command.params:
        if param.param_type_name == "argument":
            name = (param.name or "arg").upper()
            pieces.append(f"{name}..." if param.nargs == -1 else name)
    if any(p.param_type_name == "option" for p in command.params):
        pieces.insert(1, "[OPTIONS]")
    return " ".join(pieces)


def _option_rows(command: Any) -> Iterator[str]:
    for param in command.params:
        if param.param_type_name != "option" or param.hidden:
            continue
        names = ", ".join(f"`{n}`" for n in [*param.opts, *param.secondary_opts])
        default = param.default
        shown = (
            "" if default in (None, False, (), []) or param.is_flag else f" (default: `{default}`)"
        )
        yield f"| {names} | {(param.help or '').replace('|', '/')}{shown} |"


def _sections(command: Any, path: str, depth: int) -> Iterator[str]:
    yield f"{'#' * depth} `{path}`"
    yield ""
    help_text = (command.help or "").strip()
    if help_text:
        yield help_text
        yield ""
    yield f"    {_usage(command, path)}"
    yield ""
    rows = list(_option_rows(command))
    if rows:
        yield "| option | meaning |"
        yield "|---|---|"
        yield from rows
        yield ""
    for name, sub in sorted(_subcommands(command).items()):
        if not sub.hidden:
            yield from _sections(sub, f"{path} {name}", min(depth + 1, 4))


def render_reference() -> str:
    """The whole reference as Markdown."""
    import typer

    from tta_cli.app import app

    root = typer.main.get_command(app)
    lines = [
        "# `tta` command reference",
        "",
        "Generated from the app by `python -m tta_cli.reference`; do not edit by hand.",
        "Every command also answers `--help`; `tta --version` prints the versions.",
        "",
        "Every command exits with one of these codes:",
        "",
        "| code | meaning |",
        "|---|---|",
        "| 0 | success |",
        "| 1 | runtime failure: a readable message on stderr (`tta --debug ...` shows the "
        "traceback); `tta lint` also exits 1 when it finds something |",
        "| 2 | usage error: an unknown command or flag, a bad value, flags that do not go "
        "together |",
        "| 130 | interrupted (Ctrl-C) |",
        "",
    ]
    lines += list(_sections(root, "tta", 2))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_reference())
