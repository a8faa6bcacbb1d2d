"""The context that travels with every execution of a workflow."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ["WorkflowContext"]

# Compiled on first use (by re's cache): most processes never read a traceparent.
_TRACEPARENT = r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$"
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16


def _new_id() -> str:
    # 16 random bytes as hex: as unique as a uuid4, and cheaper to make.
    return os.urandom(16).hex()


class WorkflowContext:
    """Identity, shared state and trace context of one workflow run.

    Every primitive receives the same context object; ``await p.execute(x, ctx)``.

    * ``workflow_id`` names the workflow (stable across its steps); ``correlation_id``
      joins everything one request caused, across workflows and processes.
    * ``context_id`` is unique per context; :meth:`child` makes a context whose
      ``causation_id`` is its parent's ``context_id``, so ``causation_chain`` tells
      which context caused which.
    * ``metadata`` and ``tags`` belong to one context (a child starts with a shallow
      copy); ``state`` is the workflow's shared scratchpad, the same dict in every child.
    * ``trace_id`` / ``span_id`` carry W3C trace context (hex strings) from an
      incoming request: the first span of the workflow is parented to it.
    * ``start_time`` (epoch seconds) and ``checkpoints`` time the run.

    Making a child copies two small dicts and nothing else, so it is cheap enough
    to do per step.
    """

    __slots__ = (
        "_parent",
        "_start_monotonic",
        "checkpoints",
        "context_id",
        "correlation_id",
        "metadata",
        "span_id",
        "start_time",
        "state",
        "tags",
        "trace_flags",
        "trace_id",
        "workflow_id",
    )

    def __init__(
        self,
        *,
        workflow_id: str | None = None,
        correlation_id: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        state: dict[str, Any] | None = None,
        tags: Mapping[str, str] | None = None,
        trace_id: str | None = None,
        span_id: str | None = None,
        trace_flags: int = 1,
    ) -> None:
        self.context_id = _new_id()
        self.workflow_id = workflow_id or self.context_id
        self.correlation_id = correlation_id or _new_id()
        self.metadata: dict[str, Any] = dict(metadata) if metadata else {}
        self.state: dict[str, Any] = state if state is not None else {}
        self.tags: dict[str, str] = dict(tags) if tags else {}
        self.trace_id = trace_id
        self.span_id = span_id
        self.trace_flags = trace_flags
        self.start_time = time.time()
        self._start_monotonic = time.monotonic()
        self.checkpoints: list[tuple[str, float]] = []
        self._parent: WorkflowContext | None = None

    # -- causation -------------------------------------------------------------------

    def child(self, **metadata: Any) -> WorkflowContext:
        """A context caused by this one: same workflow, correlation and state.

        Keyword arguments are added to the child's (copied) metadata.
        """
        new = WorkflowContext.__new__(WorkflowContext)
        new.context_id = _new_id()
        new.workflow_id = self.workflow_id
        new.correlation_id = self.correlation_id
        new.metadata = {**self.metadata, **metadata}
        new.state = self.state
        new.tags = dict(self.tags)
        new.trace_id = self.trace_id
        new.span_id = self.span_id
        new.trace_flags = self.trace_flags
        new.start_time = time.time()
        new._start_monotonic = time.monotonic()
        new.checkpoints = []
        new._parent = self
        return new

    @property
    def parent(self) -> WorkflowContext | None:
        """The context this one was made from with :meth:`child`, if any."""
        return self._parent

    @property
    def causation_id(self) -> str | None:
        """The ``context_id`` of the parent context, or ``None`` for a root context."""
        return self._parent.context_id if self._parent is not None else None

    @property
    def causation_chain(self) -> tuple[str, ...]:
        """``context_id`` of every ancestor, the root first, this context excluded."""
        return tuple(reversed([c.context_id for c in self._ancestors()]))

    def _ancestors(self) -> Iterator[WorkflowContext]:
        node = self._parent
        while node is not None:
            yield node
            node = node._parent

    # -- timing ----------------------------------------------------------------------

    def checkpoint(self, name: str) -> float:
        """Record that ``name`` was reached; returns milliseconds since the start."""
        elapsed = self.elapsed_ms()
        self.checkpoints.append((name, elapsed))
        return elapsed

    def elapsed_ms(self) -> float:
        """Milliseconds since this context was created (monotonic clock)."""
        return (time.monotonic() - self._start_monotonic) * 1000.0

    # -- W3C trace context -----------------------------------------------------------

    @property
    def traceparent(self) -> str | None:
        """The W3C ``traceparent`` header for this context, or ``None`` without a trace."""
        if self.trace_id is None or self.span_id is None:
            return None
        return f"00-{self.trace_id}-{self.span_id}-{self.trace_flags:02x}"

    @classmethod
    def from_traceparent(cls, header: str, **kwargs: Any) -> WorkflowContext:
        """A root context that continues the trace named by a W3C ``traceparent`` header.

        Raises ``ValueError`` when the header is malformed, so a caller can decide to
        start a fresh trace instead.
        """
        match = re.match(_TRACEPARENT, header.strip().lower())
        if match is None or match[1] == _ZERO_TRACE or match[2] == _ZERO_SPAN:
            raise ValueError(
                f"not a valid W3C traceparent header: {header!r}; expected "
                "'00-<32 hex trace id>-<16 hex span id>-<2 hex flags>' with non-zero ids"
            )
        return cls(trace_id=match[1], span_id=match[2], trace_flags=int(match[3], 16), **kwargs)

    def __repr__(self) -> str:
        return (
            f"WorkflowContext(workflow_id={self.workflow_id!r}, "
            f"correlation_id={self.correlation_id!r}, context_id={self.context_id!r})"
        )
