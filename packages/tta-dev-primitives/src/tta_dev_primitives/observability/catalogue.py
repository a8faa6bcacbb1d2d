"""The metric catalogue as a document, and the rule that keeps label cardinality bounded.

``METRICS`` (in :mod:`.metrics`) is the single source: each package declares its
metrics into it at import time. :func:`load_catalogue` imports every module known to
declare some (``METRIC_MODULES``; those of packages that are not installed are
skipped), and :func:`render_markdown` turns the result into
``docs/observability/METRICS.md``, so the document cannot drift from the code: a
test compares the two, and ``tta metrics catalogue --output ...`` regenerates it.

Label values multiply series, so a label may only take a small set of values chosen
by code or configuration. ``BOUNDED_LABELS`` lists every label name allowed, with
where its values come from; :func:`unbounded_labels` reports any other.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable

from tta_dev_primitives.observability.metrics import (
    DEFAULT_GAUGE_MULTIPROCESS_MODE,
    METRICS,
    MetricSpec,
)

__all__ = [
    "BOUNDED_LABELS",
    "METRIC_MODULES",
    "REGENERATE_COMMAND",
    "load_catalogue",
    "render_markdown",
    "unbounded_labels",
]

#: Modules that declare metrics with ``declare_metric``, by package.
METRIC_MODULES: tuple[str, ...] = (
    "tta_dev_primitives.observability.metrics",
    "tta_dev_primitives.core.concurrency",
    "tta_dev_primitives.performance.telemetry",
    "tta_dev_integrations.llm.metrics",
    "tta_dev_integrations.llm.budget.telemetry",
    "tta_dev_integrations.database.telemetry",
    "tta_dev_integrations.agents.telemetry",
)

#: The command that rewrites the generated catalogue.
REGENERATE_COMMAND = "tta metrics catalogue --output docs/observability/METRICS.md"

#: Every label name a TTA metric may have, and why its values are bounded.
BOUNDED_LABELS: dict[str, str] = {
    "primitive": "a primitive's name, fixed in code when the workflow is built",
    "primitive_type": "the primitive's class name",
    "outcome": "success, error or cancelled (LLM calls: success or the error class name)",
    "alternative": "the name of a FallbackPrimitive's alternative, fixed in code",
    "state": "a circuit breaker state: closed, half_open or open",
    "provider": "an LLM provider of the model catalog (openai, anthropic, ...)",
    "model": "a model alias of the model catalog",
    "direction": "input or output (tokens)",
    "scope": "a budget scope from configuration (a team or project, never a user)",
    "profile": "a budget profile: free, careful or unlimited",
    "justification": "verified or unverified (a paid call's justification)",
    "reason": "a routing reason code, fixed in code",
    "threshold": "a budget alert threshold from configuration (0.5, 0.8, 1.0)",
    "system": "a database system: postgresql, sqlite or supabase",
    "operation": "a database operation from a fixed set (select, insert, ...)",
    "feature": "a fleet feature kept in Redis: cache, rate_limit or breaker",
    "agent": "an agent's name, fixed in code when the agent is built",
    "tool": "a tool of the agent (fixed in code), or 'unknown' for a name the model made up",
}


def load_catalogue(modules: Iterable[str] = METRIC_MODULES) -> list[MetricSpec]:
    """Every declared metric, by name, after importing the declaring modules installed."""
    for name in modules:
        package = name.split(".", 1)[0]
        if importlib.util.find_spec(package) is None:
            continue
        importlib.import_module(name)
    return sorted(METRICS, key=lambda spec: spec.name)


def unbounded_labels(specs: Iterable[MetricSpec]) -> list[tuple[str, str]]:
    """``(metric, label)`` for each label name not in ``BOUNDED_LABELS``."""
    return [
        (spec.name, label) for spec in specs for label in spec.labels if label not in BOUNDED_LABELS
    ]


def _buckets(spec: MetricSpec) -> str:
    def show(bound: float) -> str:
        if bound < 0.001:
            return f"{bound * 1_000_000:g} us"
        if bound < 1:
            return f"{bound * 1000:g} ms"
        return f"{bound:g} s"

    return ", ".join(show(b) for b in spec.buckets)


def _series_names(spec: MetricSpec) -> str:
    if spec.kind == "histogram":
        return ", ".join(f"`{spec.name}{s}`" for s in ("_bucket", "_count", "_sum"))
    return f"`{spec.name}`"


def render_markdown(specs: Iterable[MetricSpec]) -> str:
    """The catalogue as a Markdown page: one table, then buckets and labels."""
    ordered = sorted(specs, key=lambda spec: spec.name)
    lines = [
        "# Metric catalogue",
        "",
        "Every Prometheus metric TTA.dev emits. Generated from the code (`METRICS` in",
        "`tta_dev_primitives.observability`); do not edit by hand. Regenerate with:",
        "",
        "```",
        REGENERATE_COMMAND,
        "```",
        "",
        "| Metric | Type | Unit | Labels | Meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in ordered:
        labels = ", ".join(f"`{label}`" for label in spec.labels) or "-"
        description = spec.description.replace("|", "\\|")
        lines.append(f"| `{spec.name}` | {spec.kind} | {spec.unit} | {labels} | {description} |")
    histograms = [spec for spec in ordered if spec.kind == "histogram"]
    if histograms:
        lines += ["", "## Histogram buckets", ""]
        lines += [f"- `{spec.name}`: {_buckets(spec)}" for spec in histograms]
    gauges = [spec for spec in ordered if spec.kind == "gauge"]
    if gauges:
        lines += [
            "",
            "## Gauges with several worker processes",
            "",
            "In multiprocess mode (`PROMETHEUS_MULTIPROC_DIR`) the workers' values are",
            "combined as follows; counters and histograms are always summed.",
            "",
        ]
        lines += [
            f"- `{spec.name}`: {spec.multiprocess_mode or DEFAULT_GAUGE_MULTIPROCESS_MODE}"
            for spec in gauges
        ]
    lines += ["", "## Series names", ""]
    lines += [f"- {_series_names(spec)}" for spec in ordered]
    used = sorted({label for spec in ordered for label in spec.labels})
    lines += [
        "",
        "## Labels",
        "",
        "A label only takes values from a small set fixed by code or configuration;",
        "ids, users, prompts and other free text never become label values.",
        "",
        "| Label | Values |",
        "|---|---|",
    ]
    lines += [f"| `{label}` | {BOUNDED_LABELS.get(label, 'NOT BOUNDED')} |" for label in used]
    return "\n".join(lines) + "\n"
