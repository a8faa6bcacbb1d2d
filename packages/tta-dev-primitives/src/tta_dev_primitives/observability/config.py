"""What :func:`~tta_dev_primitives.observability.setup` configures, from arguments or env.

Arguments win over the environment; the environment uses OpenTelemetry's standard
variables where one exists:

==================================  ==================================================
``OTEL_SDK_DISABLED``               ``true``: no tracer provider (tracing stays off)
``OTEL_SERVICE_NAME``               the ``service.name`` resource attribute
``OTEL_RESOURCE_ATTRIBUTES``        ``key=value,...`` resource attributes; its
                                    ``service.name`` is used when
                                    ``OTEL_SERVICE_NAME`` is not set (OTel's order:
                                    argument, ``OTEL_SERVICE_NAME``, this, ``tta-app``)
``OTEL_TRACES_EXPORTER``            comma list of ``jsonl`` (ours), ``otlp``,
                                    ``console``, or ``none``; default ``jsonl``
``OTEL_EXPORTER_OTLP_ENDPOINT``     OTLP/HTTP base URL (``/v1/traces`` is appended)
``OTEL_EXPORTER_OTLP_TRACES_*``     endpoint, headers, timeout, ... read by the exporter
``OTEL_EXPORTER_OTLP_PROTOCOL``     only ``http/protobuf`` is supported
``TTA_HOME``                        the JSON-lines file is ``$TTA_HOME/traces/spans.jsonl``
``TTA_TRACES_FILE``                 another path for the JSON-lines file
``TTA_METRICS_PORT``                start the ``/metrics`` server on this port
``TTA_METRICS_ADDR``                its address (default ``127.0.0.1``)
``OTEL_EXPORTER_PROMETHEUS_PORT``   the same as ``TTA_METRICS_PORT`` (which wins)
``OTEL_EXPORTER_PROMETHEUS_HOST``   the same as ``TTA_METRICS_ADDR`` (which wins)
``TTA_LOG_FORMAT``                  ``json`` or ``text``: install a root log handler
==================================  ==================================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote

__all__ = ["DEFAULT_MAX_BYTES", "EXPORTERS", "LogFormat", "TelemetryConfig", "resolve_config"]

#: Rotate the JSON-lines span file once it is larger than this (one previous file kept).
DEFAULT_MAX_BYTES = 50 * 1024 * 1024

#: The span exporters ``setup`` knows, by their ``OTEL_TRACES_EXPORTER`` name.
EXPORTERS = ("jsonl", "otlp", "console")

LogFormat = Literal["json", "text"]

_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class TelemetryConfig:
    """A resolved configuration; two equal configs give the same setup."""

    service_name: str = "tta-app"
    exporters: tuple[str, ...] = ("jsonl",)
    jsonl_path: Path = Path("~/.tta/traces/spans.jsonl")
    jsonl_max_bytes: int = DEFAULT_MAX_BYTES
    otlp_endpoint: str | None = None
    otlp_headers: tuple[tuple[str, str], ...] = ()
    metrics_port: int | None = None
    metrics_addr: str = "127.0.0.1"
    log_format: LogFormat | None = None
    log_level: int | str = "INFO"
    disabled: bool = False

    def __repr__(self) -> str:
        # Header values are credentials (API keys of a hosted collector): names only.
        headers = [name for name, _ in self.otlp_headers]
        return (
            f"TelemetryConfig(service_name={self.service_name!r}, exporters={self.exporters!r}, "
            f"jsonl_path={str(self.jsonl_path)!r}, otlp_endpoint={self.otlp_endpoint!r}, "
            f"otlp_headers={headers!r}, metrics_port={self.metrics_port!r}, "
            f"log_format={self.log_format!r}, disabled={self.disabled!r})"
        )


def _exporters(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip().lower() for n in value.split(",") if n.strip()))
    if names == ("none",) or not names:
        return ()
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise ValueError(
            f"unknown trace exporter(s) {', '.join(unknown)} in {value!r}; use a comma list "
            f"of {', '.join(EXPORTERS)}, or 'none'"
        )
    return names


def _port(value: str, source: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise ValueError(f"{source}={value!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{source}={value!r} is not a port number (0-65535)")
    return port


def _resource_service_name(value: str) -> str | None:
    """``service.name`` of an ``OTEL_RESOURCE_ATTRIBUTES`` value (percent-decoded)."""
    for pair in value.split(","):
        key, sep, raw = pair.partition("=")
        if sep and key.strip() == "service.name" and raw.strip():
            return unquote(raw.strip())
    return None


def _service_name(env: Mapping[str, str]) -> str:
    return (
        env.get("OTEL_SERVICE_NAME", "").strip()
        or _resource_service_name(env.get("OTEL_RESOURCE_ATTRIBUTES", ""))
        or "tta-app"
    )


def _metrics_port(argument: int | None, env: Mapping[str, str]) -> int | None:
    if argument is not None:
        return _port(str(argument), "metrics_port")
    for variable in ("TTA_METRICS_PORT", "OTEL_EXPORTER_PROMETHEUS_PORT"):
        if env.get(variable):
            return _port(env[variable], variable)
    return None


def resolve_config(
    *,
    service_name: str | None = None,
    exporter: str | None = None,
    jsonl_path: str | os.PathLike[str] | None = None,
    jsonl_max_bytes: int | None = None,
    otlp_endpoint: str | None = None,
    otlp_headers: Mapping[str, str] | None = None,
    metrics_port: int | None = None,
    metrics_addr: str | None = None,
    log_format: LogFormat | None = None,
    log_level: int | str | None = None,
    environ: Mapping[str, str] | None = None,
) -> TelemetryConfig:
    """Merge arguments (first) and environment variables into a :class:`TelemetryConfig`.

    Raises ``ValueError`` naming the variable or argument that is wrong.
    """
    env = os.environ if environ is None else environ
    disabled = env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE
    if exporter is None:
        exporter = env.get("OTEL_TRACES_EXPORTER", "jsonl")
    exporters = _exporters(exporter)
    if "otlp" in exporters:
        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
            "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
        )
        if protocol.strip() != "http/protobuf":
            raise ValueError(
                f"OTLP protocol {protocol!r} is not supported; TTA.dev exports OTLP over HTTP "
                "(set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and use port 4318)"
            )
    if jsonl_path is None:
        explicit = env.get("TTA_TRACES_FILE")
        home = Path(env.get("TTA_HOME") or "~/.tta")
        path = Path(explicit) if explicit else home / "traces" / "spans.jsonl"
    else:
        path = Path(jsonl_path)
    metrics_port = _metrics_port(metrics_port, env)
    if log_format is None:
        chosen = env.get("TTA_LOG_FORMAT", "").strip().lower()
        if chosen not in ("", "json", "text"):
            raise ValueError(f"TTA_LOG_FORMAT={chosen!r}: use 'json' or 'text'")
        log_format = "json" if chosen == "json" else "text" if chosen == "text" else None
    elif log_format not in ("json", "text"):
        raise ValueError(f"log_format={log_format!r}: use 'json', 'text' or None")
    if otlp_endpoint is not None:
        otlp_endpoint = otlp_endpoint.rstrip("/")
        if not otlp_endpoint.endswith("/v1/traces"):
            otlp_endpoint += "/v1/traces"
    return TelemetryConfig(
        service_name=service_name or _service_name(env),
        exporters=exporters,
        jsonl_path=path.expanduser(),
        jsonl_max_bytes=jsonl_max_bytes or DEFAULT_MAX_BYTES,
        otlp_endpoint=otlp_endpoint,
        otlp_headers=tuple(sorted((otlp_headers or {}).items())),
        metrics_port=metrics_port,
        metrics_addr=metrics_addr
        or env.get("TTA_METRICS_ADDR")
        or env.get("OTEL_EXPORTER_PROMETHEUS_HOST")
        or "127.0.0.1",
        log_format=log_format,
        log_level=log_level if log_level is not None else "INFO",
        disabled=disabled,
    )
