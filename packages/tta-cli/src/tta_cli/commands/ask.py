"""``tta ask``: one prompt through ``UniversalLLMPrimitive``, routed, budgeted, traced."""

from __future__ import annotations

import typer

from tta_cli.errors import CLIError

__all__ = ["register"]

COMPLEXITIES = ("auto", "low", "medium", "high")


def ask(
    prompt: str = typer.Argument(..., help="What to ask."),
    complexity: str = typer.Option(
        "auto", "--complexity", "-c", help="auto (estimated), low, medium or high."
    ),
    profile: str = typer.Option("careful", "--profile", "-p", help="free, careful or unlimited."),
    model: str | None = typer.Option(None, "--model", "-m", help="Force one catalog model."),
    justify: str | None = typer.Option(
        None, "--justify", help="Why a paid model is worth it (needed for paid calls)."
    ),
    tried: list[str] = typer.Option(
        [], "--tried", help="A free model already tried (repeat); part of the justification."
    ),
    quality_delta: str = typer.Option(
        "", "--quality-delta", help="Expected gain of the paid model, like '+30%'."
    ),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Longest answer, in tokens."),
    stream: bool = typer.Option(False, "--stream", help="Print the answer as it arrives."),
    explain: bool = typer.Option(
        False,
        "--explain",
        help="Print the routing decision instead of asking: a dry run (no model called, "
        "nothing recorded or spent).",
    ),
    scope: str = typer.Option("default", "--scope", help="Ledger scope charged."),
    limit: float | None = typer.Option(
        None,
        "--limit",
        min=0,
        envvar="TTA_MONTHLY_LIMIT",
        help="Most this command lets the scope spend this month, in dollars (with any "
        "limit stored by `tta budget limit`, the smaller holds).",
    ),
) -> None:
    """Ask one question; the answer goes to stdout, the routing summary to stderr."""
    if not prompt.strip():
        raise typer.BadParameter("the prompt is empty: ask something", param_hint="PROMPT")
    if complexity not in COMPLEXITIES:
        raise typer.BadParameter(
            f"choose one of {', '.join(COMPLEXITIES)}", param_hint="--complexity"
        )
    import asyncio

    request: dict[str, object] = {
        "prompt": prompt,
        "complexity": complexity,
        "max_tokens": max_tokens,
        "scope": scope,
    }
    if model:
        request["model"] = model
    if justify:
        request["justification"] = {
            "reason": justify,
            "free_alternatives_tried": tried,
            "expected_quality_delta": quality_delta,
        }
    from tta_cli.home import check_tta_home

    check_tta_home()
    if explain:
        asyncio.run(_explain(request, profile, scope=scope, limit=limit))
        return
    asyncio.run(_ask(request, profile, stream=stream, scope=scope, limit=limit))


async def _explain(
    request: dict[str, object], profile: str, *, scope: str, limit: float | None
) -> None:
    import sys

    from tta_cli.render.routing import explain_decision
    from tta_dev_integrations.llm import LLMError, UniversalLLMPrimitive
    from tta_dev_primitives import WorkflowContext

    try:
        universal = UniversalLLMPrimitive(
            budget_profile=profile, monthly_limit=limit, scope=scope, name="ask"
        )
    except ValueError as error:
        raise CLIError(str(error)) from None
    try:
        decision = await universal.plan(request, WorkflowContext(workflow_id="tta-ask"))
    except (LLMError, ValueError) as error:
        raise CLIError.from_error(error, hint="see `tta models` for configured providers") from None
    finally:
        await universal.ledger.close()
    sys.stdout.write(explain_decision(decision))


async def _ask(
    request: dict[str, object], profile: str, *, stream: bool, scope: str, limit: float | None
) -> None:
    import sys

    from tta_cli.render.common import duration, money
    from tta_cli.tracing import start_tracing
    from tta_dev_integrations.llm import LLMError, UniversalLLMPrimitive
    from tta_dev_primitives import AllAlternativesFailedError, WorkflowContext

    start_tracing("tta-ask")
    try:
        universal = UniversalLLMPrimitive(
            budget_profile=profile, monthly_limit=limit, scope=scope, name="ask"
        )
    except ValueError as error:
        raise CLIError(str(error)) from None
    context = WorkflowContext(workflow_id="tta-ask")
    try:
        if stream:
            answer = universal.stream(request, context)
            async for piece in answer:
                sys.stdout.write(piece)
                sys.stdout.flush()
            sys.stdout.write("\n")
            response = answer.response
        else:
            response = await universal.execute(request, context)
            sys.stdout.write(response.content.rstrip() + "\n")
    except (LLMError, AllAlternativesFailedError) as error:
        failed = _key_store_failures()
        if failed:
            # The routing only saw "no key"; the real cause is the store the keys live in.
            raise CLIError(
                f"no model could be used because the key store failed: {failed}",
                hint="fix it as the message says; `tta secrets check` shows every source",
            ) from None
        hint = "see `tta models` for configured providers"
        raise CLIError.from_error(error, hint=hint) from None
    finally:
        await universal.ledger.close()
    if response is None:
        return
    routing = response.routing
    why = f": {routing.reason}" if routing is not None else ""
    left = routing.budget_left_usd if routing is not None else None
    budget = (f"limit {money(limit)}" if limit is not None else "no limit of its own") + (
        f", {money(left)} left" if left is not None else ""
    )
    sys.stderr.write(
        f"[{response.model} via {response.provider}{why}; "
        f"{response.usage.total_tokens} tokens, "
        f"{money(response.cost_usd, estimated=response.cost_estimated)}, "
        f"{duration(response.latency_s)}; scope {scope!r}: {budget}]\n"
    )


def register(app: typer.Typer) -> None:
    """Add ``tta ask``."""
    app.command(name="ask")(ask)


def _key_store_failures() -> str:
    """The secret sources that fail now (Vault sealed, down, refusing), in one line; or ""."""
    from tta_secrets import SecretsError, default_loader, source_problems

    try:
        problems = source_problems(default_loader())
    except SecretsError as error:  # the loader's own settings are wrong
        return f"{type(error).__name__}: {error}"
    return "; ".join(" ".join(str(problem).split()) for problem in problems)
