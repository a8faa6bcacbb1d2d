"""Context, the primitive base class, and composition (sequence, parallel, map, branching)."""

from tta_dev_primitives.core.base import LambdaPrimitive, WorkflowPrimitive
from tta_dev_primitives.core.concurrency import BulkheadPrimitive, MapPrimitive
from tta_dev_primitives.core.conditional import ConditionalPrimitive
from tta_dev_primitives.core.context import WorkflowContext
from tta_dev_primitives.core.parallel import ParallelPrimitive
from tta_dev_primitives.core.routing import RouterPrimitive
from tta_dev_primitives.core.sequential import SequentialPrimitive
from tta_dev_primitives.core.wrapper import WrapperPrimitive

__all__ = [
    "BulkheadPrimitive",
    "ConditionalPrimitive",
    "LambdaPrimitive",
    "MapPrimitive",
    "ParallelPrimitive",
    "RouterPrimitive",
    "SequentialPrimitive",
    "WorkflowContext",
    "WorkflowPrimitive",
    "WrapperPrimitive",
]
