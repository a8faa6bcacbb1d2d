"""Which tracer primitives use, decided per execution at the cost of an attribute read.

Opening even a no-op span costs more than a whole composed step may, so primitives
open none until a real tracer provider exists. That is either the OpenTelemetry
global provider (set once with ``trace.set_tracer_provider``) or an override
installed with :func:`use_tracer_provider` (what ``testing.capture_spans`` does,
so tests can trace in isolation).

Importing ``opentelemetry.trace`` costs ~50 ms, so this module does not: nobody can
have set a provider before someone imported the API, so until it is in
``sys.modules`` tracing is off.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = ["INSTRUMENTATION_NAME", "SCHEMA_URL", "active_tracer", "use_tracer_provider"]

INSTRUMENTATION_NAME = "tta_dev_primitives"
#: The semantic conventions the spans follow (GenAI, database): version 1.44.0.
SCHEMA_URL = "https://opentelemetry.io/schemas/1.44.0"


class _TracerState:
    __slots__ = ("global_provider", "global_tracer", "override_tracer")

    def __init__(self) -> None:
        self.override_tracer: Tracer | None = None
        self.global_provider: object = None
        self.global_tracer: Tracer | None = None


_state = _TracerState()


_modules = sys.modules


def _global_provider() -> object:
    api = _modules.get("opentelemetry.trace")
    if api is None:
        return None
    # The API keeps the provider set by set_tracer_provider() in this module global and
    # never changes it afterwards; reading it is ~30 ns where get_tracer_provider() is
    # ~800 ns.
    return getattr(api, "_TRACER_PROVIDER", None)


def _tracer_of(provider: object) -> Tracer | None:
    if provider is None:
        return None
    from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, TracerProvider

    if isinstance(provider, NoOpTracerProvider | ProxyTracerProvider):
        return None
    if not isinstance(provider, TracerProvider):
        return None
    return _get_tracer(provider)


@cache
def _release() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tta-dev-primitives")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return None


def _get_tracer(provider: TracerProvider) -> Tracer:
    """The primitives' tracer: named, versioned, with the conventions' schema URL."""
    return provider.get_tracer(
        INSTRUMENTATION_NAME, instrumenting_library_version=_release(), schema_url=SCHEMA_URL
    )


def active_tracer() -> Tracer | None:
    """The tracer primitives should use now, or ``None`` when tracing is off."""
    override = _state.override_tracer
    if override is not None:
        return override
    provider = _global_provider()
    if provider is not _state.global_provider:
        _state.global_provider = provider
        _state.global_tracer = _tracer_of(provider)
    return _state.global_tracer


@contextmanager
def use_tracer_provider(provider: TracerProvider | None) -> Iterator[None]:
    """Make primitives trace to ``provider`` inside the block (``None``: the global one).

    Meant for tests and tools that need spans apart from the process-wide provider.
    """
    previous = _state.override_tracer
    _state.override_tracer = _get_tracer(provider) if provider is not None else None
    try:
        yield
    finally:
        _state.override_tracer = previous
