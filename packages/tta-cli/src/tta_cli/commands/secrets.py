"""``tta secrets check``: which keys and secrets are configured, and where from (masked).

A row is "missing" only when something is needed and absent: a provider's key, a
known secret. A setting of the loader that is not set shows its default (or "not
set" when it is optional and has none). Every source is asked once; if one fails
(Vault sealed, down or refusing the token), the report says which and how to fix
it, and the command exits 1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from tta_cli.errors import CLIError

if TYPE_CHECKING:
    from tta_secrets import SecretLoader, SecretStatus

__all__ = ["KNOWN_SECRETS", "PLAIN_SETTINGS", "SECRET_SETTINGS", "SETTING_DEFAULTS", "register"]

#: Secrets other than provider keys that TTA.dev reads.
KNOWN_SECRETS = ("DATABASE_URL", "SUPABASE_URL", "SUPABASE_KEY", "TTA_LEDGER_URL")

#: Settings of the secret loader itself that are not secret: shown as they are.
PLAIN_SETTINGS = (
    "TTA_SECRETS_ORDER", "TTA_DOTENV", "VAULT_ADDR", "VAULT_NAMESPACE",
    "TTA_VAULT_MOUNT", "TTA_VAULT_PATH", "TTA_VAULT_TTL",
)  # fmt: skip

#: Settings of the loader that are credentials: shown masked.
SECRET_SETTINGS = ("VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID")

#: What a setting that is not set means (the others are optional, with no default).
SETTING_DEFAULTS = {
    "TTA_SECRETS_ORDER": "env,dotenv,vault",
    "TTA_DOTENV": ".env",
    "TTA_VAULT_MOUNT": "secret",
    "TTA_VAULT_PATH": "tta",
    "TTA_VAULT_TTL": "300",
}


def _row(kind: str, status: SecretStatus, shown: str | None = None) -> dict[str, Any]:
    if status.error is not None:
        state = "error"
    elif not status.key_required:
        state = "no key needed"
    elif status.configured:
        state = "configured"
    elif kind == "setting":
        default = SETTING_DEFAULTS.get(status.name)
        state = "default" if default is not None else "not set"
        shown = default
    else:
        state = "missing"
    return {
        "kind": kind,
        "name": status.name,
        "status": state,
        "configured": status.configured,
        "source": status.source,
        "value": shown if shown is not None else status.preview,
        "looked_for": list(status.names),
        "error": status.error,
    }


def _settings_rows(loader: SecretLoader) -> list[dict[str, Any]]:
    from tta_secrets import DotenvSource, EnvSource, SecretLoader, secret_status

    # Settings come from the environment and the .env file, never from Vault itself.
    local = SecretLoader([s for s in loader.sources if isinstance(s, EnvSource | DotenvSource)])
    rows = []
    for status in secret_status(PLAIN_SETTINGS, local):
        found = local.find(status.name) if status.configured else None
        rows.append(_row("setting", status, found.get_secret_value() if found else None))
    rows += [_row("setting", status) for status in secret_status(SECRET_SETTINGS, local)]
    return rows


def collect(loader: SecretLoader) -> list[dict[str, Any]]:
    """Every row of the report: providers, known secrets, then the loader's settings."""
    from tta_dev_integrations.llm.keys import provider_key_status
    from tta_secrets import secret_status

    rows = [_row("provider", status) for status in provider_key_status(loader)]
    rows += [_row("secret", status) for status in secret_status(KNOWN_SECRETS, loader)]
    return rows + _settings_rows(loader)


_STYLES = {
    "configured": "green",
    "missing": "yellow",
    "error": "red",
    "no key needed": "dim",
    "default": "dim",
    "not set": "dim",
}


def _print_table(loader: SecretLoader, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    chain = " -> ".join(source.label for source in loader.sources)
    table = Table(title=f"Secrets (sources: {chain})", title_justify="left")
    for column in ("kind", "name", "status", "source", "value"):
        table.add_column(column)
    for row in rows:
        status = row["status"]
        if row["error"]:
            status = f"error: {row['error']}"
        elif status == "missing" and len(row["looked_for"]) > 1:
            status = f"missing ({' or '.join(row['looked_for'])})"
        table.add_row(
            row["kind"],
            escape(row["name"]),
            f"[{_STYLES[row['status']]}]{escape(status)}[/]",
            escape(row["source"] or "-"),
            escape(row["value"] or "-"),
        )
    console.print(table)


def check(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Show which provider keys and secrets are configured, and where from (masked)."""
    import json

    from tta_secrets import SecretsError, default_loader, source_problems

    try:
        loader = default_loader()
    except SecretsError as error:
        raise CLIError(
            f"the secret loader's settings are wrong: {error}",
            hint="fix the variable named above; see docs/SECRETS_QUICK_REF.md",
        ) from error
    problems = source_problems(loader)
    rows = collect(loader)
    if as_json:
        sources = [source.label for source in loader.sources]
        failed = [{"source": p.source, "error": p.error} for p in problems]
        report = {"sources": sources, "secrets": rows, "failed_sources": failed}
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_table(loader, rows)
    if problems:
        raise CLIError(
            "a secret source failed, so keys it holds cannot be read: "
            + "; ".join(str(problem) for problem in problems),
            hint="fix the source as its message says, then run `tta secrets check` again",
        )


def register(app: typer.Typer) -> None:
    """Add the ``secrets`` group (``tta secrets check``)."""
    group = typer.Typer(
        name="secrets",
        help="Where provider keys and other secrets come from (env, .env, Vault).",
        no_args_is_help=True,
    )
    group.command(name="check")(check)
    app.add_typer(group, name="secrets")
