"""``tta coder``: which AI coding assistant runs this shell, and the signal that said so."""

from __future__ import annotations

import typer

__all__ = ["register"]


def coder(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the detected coding assistant, the signal that gave it away, and its defaults."""
    import json

    from tta_dev_integrations.llm.coders import coder_defaults, detect_coder

    found = detect_coder("auto")
    defaults = coder_defaults(found)
    data = {
        "coder": found.coder,
        "signal": found.signal,
        "source": found.source,
        "preferred_free_models": list(defaults.preferred_free_models),
    }
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"coder:  {found.coder}")
    typer.echo(f"signal: {found.signal} ({found.source})")
    preferred = ", ".join(defaults.preferred_free_models) or "none (catalog order)"
    typer.echo(f"preferred free models: {preferred}")
    typer.echo("override with TTA_CODER=<name> or UniversalLLMPrimitive(coder=...)")


def register(app: typer.Typer) -> None:
    """Add ``tta coder``."""
    app.command(name="coder")(coder)
