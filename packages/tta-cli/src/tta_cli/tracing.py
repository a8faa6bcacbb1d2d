"""Tracing for commands that run workflows: the embedded JSON-lines file by default."""

from __future__ import annotations

__all__ = ["start_tracing"]


def start_tracing(service_name: str) -> str | None:
    """Configure tracing (the ``OTEL_*`` variables win); the span file written, if any."""
    from tta_dev_primitives.observability import setup

    config = setup(service_name=service_name).config
    if config is None or config.disabled or "jsonl" not in config.exporters:
        return None
    return str(config.jsonl_path.expanduser())
