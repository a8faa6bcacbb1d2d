"""``tta metrics``: serve the Prometheus endpoint, or write the metric catalogue.

``tta metrics serve`` is most useful beside worker processes in multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR`` set for the workers and for it): it adds up what every
worker recorded and serves the sum, so Prometheus scrapes one target. Without that
variable it serves this process's own registry (the families, at zero, plus process
metrics), which is mainly a way to see what the endpoint looks like.
"""

from __future__ import annotations

from pathlib import Path

import typer

from tta_cli.errors import CLIError, CLIUsageError

__all__ = ["ALONE_NOTE", "register"]

ALONE_NOTE = (
    "note: no workflow runs in this process, so the tta_ metrics have no samples here. "
    "To serve a program's metrics, start the endpoint inside it (setup(metrics_port=9464) "
    "or start_metrics_server(9464)), or run its workers with PROMETHEUS_MULTIPROC_DIR=DIR "
    "(an empty directory) and this command with --multiprocess-dir DIR."
)


def serve(
    port: int = typer.Option(9464, "--port", min=0, max=65535, help="Port (0: a free one)."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (0.0.0.0: every interface)."
    ),
    multiprocess_dir: Path | None = typer.Option(
        None,
        "--multiprocess-dir",
        envvar="PROMETHEUS_MULTIPROC_DIR",
        help="Serve the sum of the worker processes writing there.",
    ),
) -> None:
    """Serve /metrics until interrupted (Ctrl-C).

    Alone, it serves this process's registry, where no workflow runs: the tta_ families
    without samples. Pass --multiprocess-dir (PROMETHEUS_MULTIPROC_DIR) shared with
    worker processes to serve what they record.
    """
    import threading

    from tta_dev_primitives.observability import start_metrics_server
    from tta_dev_primitives.observability.catalogue import load_catalogue

    load_catalogue()
    try:
        server = start_metrics_server(
            port, host, multiprocess_dir=str(multiprocess_dir) if multiprocess_dir else None
        )
    except ValueError as error:
        raise CLIError(str(error)) from None
    except OSError as error:
        raise CLIError(
            f"cannot listen on {host}:{port}: {error.strerror or error}",
            hint="choose another port with --port, or stop what is using it",
        ) from None
    # From here on a Ctrl-C, wherever it lands, stops the server (its thread would keep
    # the process alive); the note comes before "serving", so whoever waits for that
    # line has both.
    try:
        if not multiprocess_dir:
            typer.echo(ALONE_NOTE, err=True)
        mode = f" (sum of the workers in {multiprocess_dir})" if multiprocess_dir else ""
        typer.echo(f"serving {server.url}{mode}; Ctrl-C stops")
        threading.Event().wait()
    finally:  # Ctrl-C: the app reports the interruption (exit code 130)
        server.stop()


def catalogue(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write the Markdown here instead of stdout."
    ),
    check: bool = typer.Option(
        False, "--check", help="Only compare with --output; fail when it is stale."
    ),
) -> None:
    """Write the catalogue of every metric TTA.dev declares, as Markdown."""
    from tta_dev_primitives.observability.catalogue import (
        REGENERATE_COMMAND,
        load_catalogue,
        render_markdown,
    )

    text = render_markdown(load_catalogue())
    if check:
        if output is None:
            raise CLIUsageError("--check needs --output FILE", hint="name the file to compare")
        current = output.read_text(encoding="utf-8") if output.is_file() else None
        if current != text:
            raise CLIError(f"{output} is stale", hint=f"regenerate it with `{REGENERATE_COMMAND}`")
        typer.echo(f"{output} is up to date")
        return
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    except OSError as error:
        raise CLIError(
            f"cannot write {output}: {error.strerror or error}", hint="check the path"
        ) from None
    typer.echo(f"wrote {output} ({text.count(chr(10) + '| `tta_')} metrics)")


def register(app: typer.Typer) -> None:
    """Add the ``metrics`` group (``serve``, ``catalogue``) to ``app``."""
    group = typer.Typer(
        name="metrics",
        help="Serve or document TTA.dev's Prometheus metrics.",
        no_args_is_help=True,
    )
    group.command("serve")(serve)
    group.command("catalogue")(catalogue)
    app.add_typer(group, name="metrics")
