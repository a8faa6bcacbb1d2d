"""The HTTP ``/metrics`` endpoint Prometheus scrapes, in one process or several.

:func:`start_metrics_server` serves prometheus-client's exposition from a daemon
thread. The content type follows the scraper's ``Accept`` header: the classic text
format (``text/plain; version=0.0.4``) by default, OpenMetrics when asked for it
(Prometheus asks when exemplar storage is on), which is the format that carries the
exemplars (trace ids) of the primitive duration histogram.

Single process: the default registry, i.e. every TTA metric plus the standard
``process_*``, ``python_gc_*`` and ``python_info`` metrics.

Several worker processes (gunicorn, uvicorn ``--workers``, a process pool): set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by all of them *before*
they start. Each worker then keeps its values in memory-mapped files there, and the
server (in any one process, or ``tta metrics serve`` beside the workers) adds them
up with prometheus-client's ``MultiProcessCollector``: counters and histograms are
summed; gauges are combined as their catalogue entry says (``livemax`` unless stated).
Process metrics and exemplars are not available in that mode (a limitation of
prometheus-client).
"""

from __future__ import annotations

import os
import threading
from types import TracebackType
from typing import TYPE_CHECKING

from tta_dev_primitives.observability.metrics import register_metrics

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from prometheus_client.registry import Collector

__all__ = ["MULTIPROC_ENV", "MetricsServer", "start_metrics_server"]

#: The environment variable that switches prometheus-client to multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class MetricsServer:
    """A running ``/metrics`` endpoint; :meth:`stop` it (or use it as a context manager)."""

    def __init__(
        self, server: WSGIServer, thread: threading.Thread, *, multiprocess_dir: str | None
    ) -> None:
        self._server = server
        self._thread = thread
        self.multiprocess_dir = multiprocess_dir
        host, port = server.server_address[:2]
        self.host = str(host)
        self.port = int(port)

    @property
    def url(self) -> str:
        """The metrics URL, e.g. ``http://127.0.0.1:9464/metrics``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    @property
    def running(self) -> bool:
        """Whether the server thread is still serving."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> MetricsServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        mode = f", multiprocess_dir={self.multiprocess_dir!r}" if self.multiprocess_dir else ""
        return f"MetricsServer(url={self.url!r}{mode})"


def _registry(multiprocess_dir: str | None) -> Collector:
    if multiprocess_dir is None:
        from prometheus_client import REGISTRY

        return REGISTRY
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    if not os.path.isdir(multiprocess_dir):
        raise ValueError(
            f"{MULTIPROC_ENV}={multiprocess_dir!r} is not a directory; create it (empty) "
            "before starting the workers, or unset the variable for single-process mode"
        )
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
    return registry


def start_metrics_server(
    port: int = 9464,
    addr: str = "127.0.0.1",
    *,
    multiprocess_dir: str | None = None,
) -> MetricsServer:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread; returns the running server.

    ``port=0`` picks a free port (read it from ``.port``). ``addr`` defaults to
    loopback; use ``"0.0.0.0"`` to let a Prometheus on another host scrape it.
    ``multiprocess_dir`` defaults to ``$PROMETHEUS_MULTIPROC_DIR``; when set, the
    metrics of every process writing there are served, added up.

    Raises ``OSError`` when the port is taken.
    """
    from prometheus_client import start_http_server

    if multiprocess_dir is None:
        multiprocess_dir = os.environ.get(MULTIPROC_ENV) or None
    register_metrics()
    registry = _registry(multiprocess_dir)
    server, thread = start_http_server(port, addr=addr, registry=registry)
    thread.name = f"tta-metrics-{server.server_address[1]}"
    return MetricsServer(server, thread, multiprocess_dir=multiprocess_dir)
