"""``tta models``: the catalog, with prices, tiers and whether each provider has a key."""

from __future__ import annotations

import typer

__all__ = ["register"]


def models(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    free_only: bool = typer.Option(False, "--free", help="Only the free models."),
) -> None:
    """List every model of the catalog: provider, free or paid, prices, tiers, key.

    Prices are dollars per million input/output tokens in the base tier; where a long
    prompt is billed at a higher tier (claude-sonnet-4.5 above 200k input tokens), that
    tier's prices are shown beside them.
    """
    import json

    from tta_cli.catalog_view import model_rows
    from tta_cli.render.common import console

    rows = [r for r in model_rows() if r["free"] or not free_only]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} models", title_justify="left", pad_edge=False)
    for name, justify in (
        ("alias", "left"),
        ("provider", "left"),
        ("cost", "left"),
        ("$/M tok in/out", "right"),
        ("long context", "right"),
        ("quality l/m/h", "right"),
        ("key", "left"),
    ):
        table.add_column(
            name,
            justify=justify,  # type: ignore[arg-type]
            no_wrap=name != "key",
            min_width=10 if name == "key" else None,
            overflow="fold",
        )
    for r in rows:
        quality = r["quality"]
        table.add_row(
            r["alias"],
            r["provider"],
            "free" if r["free"] else "paid",
            _per_mtok(r["usd_per_mtok"]),
            _per_mtok(r["usd_per_mtok_long_context"], empty=""),
            "/".join(f"{quality.get(t, 0):.2f}" for t in ("low", "medium", "high")),
            "missing" if r["key"].startswith("missing") else r["key"],
        )
    console().print(table)
    typer.echo("keys: `tta secrets check` shows where each is looked up")


def _per_mtok(prices: dict[str, float] | None, *, empty: str = "-") -> str:
    return empty if prices is None else f"{prices['input']:.2f}/{prices['output']:.2f}"


def register(app: typer.Typer) -> None:
    """Add ``tta models``."""
    app.command(name="models")(models)
