"""Fold chains of single-child wrapper spans into one row, so a trace reads as its steps.

A step wrapped in a cache, a fallback, a retry, a timeout and a bulkhead leaves five
spans of near-identical duration above the one that did the work, each with one
child. :func:`folded_rows` walks a trace and shows each such chain as one
:class:`Row`: the span that did the work, with the wrappers it went through listed
(outermost first). A chain is only folded while it tells nothing new: a wrapper with
two children (a retry that retried, a fallback that fell back), or whose outcome
differs from its child's (a timeout that fired), keeps its own row.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tta_dev_primitives.observability.trace_view import SpanNode, SpanRecord, TraceTree

__all__ = ["FOLDABLE_TYPES", "MAP_ITEM", "Row", "folded_rows"]

#: The primitive type of the span a ``MapPrimitive`` opens for each item (``item_name=``).
MAP_ITEM = "MapItem"

#: Primitive types whose span only wraps one other step: what a chain is made of.
FOLDABLE_TYPES = frozenset(
    {
        "BulkheadPrimitive",
        "CachePrimitive",
        "CircuitBreakerPrimitive",
        "FallbackPrimitive",
        "RateLimitPrimitive",
        "RetryPrimitive",
        "TimeoutPrimitive",
        "WrapperPrimitive",
        MAP_ITEM,
    }
)


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a folded tree: ``node``, and the ``wrappers`` folded into it.

    ``wrappers`` are outermost first; the row spans from the outermost one's start
    for its duration (``start_ns``, ``duration_ns``). ``title`` is what to call the
    row: the span that did the work, or, for an item of a map, the item's name.
    """

    depth: int
    node: SpanNode
    wrappers: tuple[SpanNode, ...] = ()

    @property
    def outer(self) -> SpanRecord:
        """The outermost span of the row (the node itself when nothing was folded)."""
        return self.wrappers[0].span if self.wrappers else self.node.span

    @property
    def title(self) -> str:
        """The map item's name when the chain starts at one, else the working span's."""
        outer = self.outer
        return outer.name if outer.primitive_type == MAP_ITEM else self.node.span.name

    @property
    def folded_names(self) -> list[str]:
        """The names of the other spans of the chain, outermost first."""
        names = [wrapper.span.name for wrapper in self.wrappers] + [self.node.span.name]
        names.remove(self.title)
        return names

    @property
    def start_ns(self) -> int:
        """When the outermost span of the row started."""
        return self.outer.start_ns

    @property
    def duration_ns(self) -> int:
        """How long the outermost span of the row took."""
        return self.outer.duration_ns


def _foldable(node: SpanNode) -> bool:
    if len(node.children) != 1 or node.orphan:
        return False
    child = node.children[0]
    return node.span.primitive_type in FOLDABLE_TYPES and node.span.outcome == child.span.outcome


def folded_rows(trace: TraceTree, *, fold: bool = True) -> Iterator[Row]:
    """The rows of ``trace`` depth first, chains of single-child wrappers folded.

    Roots are never folded into their child (they name the workflow). With
    ``fold=False`` every span is a row of its own, as in ``trace.walk()``.
    """
    stack: list[tuple[int, SpanNode, bool]] = [(0, root, True) for root in reversed(trace.roots)]
    while stack:
        depth, node, is_root = stack.pop()
        chain: list[SpanNode] = []
        while fold and not is_root and _foldable(node):
            chain.append(node)
            node = node.children[0]
        yield Row(depth, node, tuple(chain))
        stack.extend((depth + 1, child, False) for child in reversed(node.children))
