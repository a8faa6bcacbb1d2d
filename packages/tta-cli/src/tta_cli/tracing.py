"""Tracing for commands that run workflows: the embedded JSON-lines file by default."""

from __future__ import annotations

__all__ = ["start_tracing"]


def start_tracing(service_name: str) -> str | None:
    """Configure tracing (OpenTelemetry variables win) and return the span file, if any."""
    from tta_dev_primitives.observability import setup

    handle = setup(service_name=service_name)
    path = getattr(handle, "trace_file", None)
    return str(path) if path else None
