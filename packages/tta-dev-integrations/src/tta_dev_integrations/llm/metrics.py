"""Prometheus metrics of LLM calls, declared into the framework's one catalogue."""

from __future__ import annotations

from tta_dev_primitives.observability import counter, declare_metric, histogram

__all__ = ["LLM_LATENCY_BUCKETS", "LLMCallMetrics"]

# From a cached 50 ms answer to a two-minute generation.
LLM_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)

REQUESTS = declare_metric(
    "tta_llm_requests_total",
    "counter",
    "LLM calls, by provider, catalog model and outcome (success or the error class).",
    ("provider", "model", "outcome"),
)
TOKENS = declare_metric(
    "tta_llm_tokens_total",
    "counter",
    "Tokens used by LLM calls, by direction (input, output).",
    ("provider", "model", "direction"),
)
COST = declare_metric(
    "tta_llm_cost_usd_total",
    "counter",
    "Dollars spent on LLM calls (estimated where the provider reported no usage).",
    ("provider", "model"),
    unit="usd",
)
DURATION = declare_metric(
    "tta_llm_request_duration_seconds",
    "histogram",
    "Wall time of an LLM call, to the last token.",
    ("provider", "model"),
    unit="seconds",
    buckets=LLM_LATENCY_BUCKETS,
)
FIRST_TOKEN = declare_metric(
    "tta_llm_time_to_first_token_seconds",
    "histogram",
    "Time from sending a streamed LLM call to its first text.",
    ("provider", "model"),
    unit="seconds",
    buckets=LLM_LATENCY_BUCKETS,
)


class LLMCallMetrics:
    """The label children of one (provider, model) pair, bound once."""

    __slots__ = ("cost", "duration", "first_token", "input", "model", "output", "provider")

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.input = counter(TOKENS).labels(provider, model, "input")
        self.output = counter(TOKENS).labels(provider, model, "output")
        self.cost = counter(COST).labels(provider, model)
        self.duration = histogram(DURATION).labels(provider, model)
        self.first_token = histogram(FIRST_TOKEN).labels(provider, model)

    def outcome(self, outcome: str) -> None:
        """Count one call that ended with ``outcome``."""
        counter(REQUESTS).labels(self.provider, self.model, outcome).inc()
