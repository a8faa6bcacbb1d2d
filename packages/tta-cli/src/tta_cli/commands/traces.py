"""``tta traces``: the most recent workflows from the JSON-lines span file, as trees.

Reads ``$TTA_HOME/traces/spans.jsonl`` and its rotated copies (or ``--file``), shows
each trace as a tree (primitive, duration, outcome, model, tokens, cost), and with
``--html FILE`` writes a self-contained timeline page instead; ``--json`` prints the
same data for scripts. Chains of single-child wrappers (cache, fallback, retry,
timeout, bulkhead, ...) are folded into the row of the step they wrap, which lists
them; ``--unfold`` shows every span as a row of its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tta_cli.errors import CLIError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from tta_dev_primitives.observability.trace_fold import Row
    from tta_dev_primitives.observability.trace_view import SpanRead, TraceTree

__all__ = ["register", "render_traces", "traces_command"]

_HOW_TO_RECORD = (
    "run `tta demo`, or call tta_dev_primitives.observability.setup() in your program "
    "and run it, to record traces; or point --file at a span file"
)
_OUTCOME_STYLES = {"success": ("ok", "green"), "error": ("error", "red")}
_DESCRIPTION_LIMIT = 120
_CHAIN = " \u203a "


def _printable(text: str) -> str:
    # Span names and errors come from the file: keep terminal control codes out.
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _outcome(text: Text, outcome: str) -> None:
    label, style = _OUTCOME_STYLES.get(outcome, (outcome, "yellow"))
    text.append(_printable(label), style=f"bold {style}")


def _node_label(row: Row) -> Text:
    from rich.text import Text

    from tta_dev_primitives.observability.trace_view import format_cost, format_duration

    node = row.node
    span = node.span
    label = Text()
    label.append(_printable(row.title), style="bold")
    if row.title == span.name and span.primitive_type and span.primitive_type != span.name:
        label.append(f" {_printable(span.primitive_type)}", style="dim")
    label.append(f"  {format_duration(row.duration_ns)}  ")
    _outcome(label, span.outcome)
    if span.model and span.model not in span.name:
        label.append(f"  {_printable(span.model)}", style="cyan")
    if span.input_tokens is not None or span.output_tokens is not None:
        label.append(f"  {span.input_tokens or 0}\u2192{span.output_tokens or 0} tok")
    if span.cost_usd is not None:
        label.append(f"  {format_cost(span.cost_usd, estimated=span.cost_estimated)}")
    if node.orphan:
        label.append("  (parent missing)", style="yellow")
    if span.outcome == "error" and span.status_description:
        description = _printable(span.status_description)
        if len(description) > _DESCRIPTION_LIMIT:
            description = description[: _DESCRIPTION_LIMIT - 1] + "\u2026"
        label.append(f"  {description}", style="red")
    if row.wrappers:
        label.append("  via " + _CHAIN.join(map(_printable, row.folded_names)), style="dim")
    return label


def _trace_label(trace: TraceTree) -> Text:
    from datetime import UTC, datetime

    from rich.text import Text

    from tta_dev_primitives.observability.trace_view import format_cost, format_duration

    started = datetime.fromtimestamp(trace.start_ns / 1e9, tz=UTC).astimezone()
    label = Text()
    label.append(_printable(trace.name), style="bold underline")
    label.append("  ")
    _outcome(label, trace.outcome)
    facts = [format_duration(trace.duration_ns), f"{len(trace.spans)} spans"]
    if trace.error_count:
        facts.append(f"{trace.error_count} failed")
    if trace.input_tokens or trace.output_tokens:
        facts.append(f"{trace.input_tokens + trace.output_tokens} tokens")
    if any(span.cost_usd is not None for span in trace.spans):
        facts.append(format_cost(trace.cost_usd, estimated=trace.cost_estimated))
    label.append("  " + ", ".join(facts))
    if trace.partial:
        label.append("  partial (parents missing)", style="yellow")
    label.append(f"\n{started:%Y-%m-%d %H:%M:%S %Z}  ")
    label.append(f"trace {_printable(trace.trace_id)}", style="dim")
    return label


def render_traces(traces: list[TraceTree], console: Console, *, fold: bool = True) -> None:
    """Print each trace as a tree, newest first; ``fold``: wrapper chains as one row."""
    from rich.tree import Tree

    from tta_dev_primitives.observability.trace_fold import folded_rows

    for index, trace in enumerate(traces):
        if index:
            console.print()
        tree = Tree(_trace_label(trace), guide_style="dim")
        branches: list[Tree] = []
        for row in folded_rows(trace, fold=fold):
            del branches[row.depth :]
            parent = branches[-1] if branches else tree
            branches.append(parent.add(_node_label(row)))
        console.print(tree)


def _no_traces(files: list[Path], read: SpanRead) -> CLIError:
    shown = files[-1]
    if not read.files:
        return CLIError(f"no trace file at {shown}", hint=_HOW_TO_RECORD)
    skipped = f" ({read.skipped_lines} corrupt lines skipped)" if read.skipped_lines else ""
    return CLIError(f"no spans in {shown}{skipped}", hint=_HOW_TO_RECORD)


def traces_command(
    file: Path | None = typer.Option(
        None,
        "--file",
        "-f",
        help="Span file to read (its rotated copies FILE.1, ... too). "
        "Default: $TTA_HOME/traces/spans.jsonl.",
        dir_okay=False,
    ),
    limit: int = typer.Option(10, "--limit", "-n", min=1, help="How many recent traces."),
    trace: str | None = typer.Option(
        None, "--trace", "-t", help="Only the trace(s) whose id starts with this."
    ),
    html: Path | None = typer.Option(
        None, "--html", help="Write a self-contained HTML timeline to this file.", dir_okay=False
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the traces as JSON."),
    unfold: bool = typer.Option(
        False, "--unfold", help="Show every wrapper span as a row of its own (tree and HTML)."
    ),
) -> None:
    """Show the most recent workflows from the span file as trees."""
    import json

    from rich.console import Console

    from tta_dev_primitives.observability.trace_view import (
        default_span_files,
        load_traces,
        span_files,
        trace_to_dict,
    )

    files = span_files(file) if file is not None else default_span_files()
    found, read = load_traces(files, limit=limit, trace_id=trace)
    if not read.spans:
        raise _no_traces(files, read)
    if not found:
        raise CLIError(
            f"no trace whose id starts with {trace!r} in {files[-1]}",
            hint="run `tta traces` to see the recent trace ids",
        )
    errors = Console(stderr=True)
    if read.skipped_lines:
        errors.print(
            f"warning: skipped {read.skipped_lines} corrupt line(s) in "
            + ", ".join(str(p) for p in read.files),
            style="yellow",
            markup=False,
            highlight=False,
        )
    out = Console(highlight=False)
    if html is not None:
        from tta_dev_primitives.observability.timeline_html import write_timeline

        try:
            written = write_timeline(found, html, fold=not unfold)
        except OSError as error:
            raise CLIError(
                f"could not write the timeline to {html}: {error.strerror or error}",
                hint="choose a file in a directory you can write to",
            ) from error
        notice = errors if as_json else out
        notice.print(
            f"wrote a timeline of {len(found)} trace(s) to {written}; "
            f"open {written.resolve().as_uri()} in a browser",
            markup=False,
            soft_wrap=True,
        )
    if as_json:
        payload = {
            "files": [str(p) for p in read.files],
            "skipped_lines": read.skipped_lines,
            "traces": [trace_to_dict(t) for t in found],
        }
        typer.echo(json.dumps(payload, indent=2, default=str))
    elif html is None:
        render_traces(found, out, fold=not unfold)


def register(app: typer.Typer) -> None:
    """Add ``tta traces`` to ``app``."""
    app.command(name="traces")(traces_command)
