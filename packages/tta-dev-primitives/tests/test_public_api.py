"""The exported surface is deliberate: sorted, complete and documented."""

from __future__ import annotations

import importlib
import inspect

import pytest

import tta_dev_primitives

PUBLIC_MODULES = [
    "tta_dev_primitives",
    "tta_dev_primitives.core",
    "tta_dev_primitives.recovery",
    "tta_dev_primitives.performance",
    "tta_dev_primitives.observability",
    "tta_dev_primitives.exceptions",
    "tta_dev_primitives.fleet",
    "tta_dev_primitives.testing",
]

EXPECTED_TOP_LEVEL = {
    "AllAlternativesFailedError",
    "BulkheadFullError",
    "BulkheadPrimitive",
    "CacheBackend",
    "CachePrimitive",
    "CircuitBreakerPrimitive",
    "CircuitOpenError",
    "CircuitState",
    "CompositionError",
    "ConditionalPrimitive",
    "FallbackPrimitive",
    "InMemoryCacheBackend",
    "LambdaPrimitive",
    "MapPrimitive",
    "ParallelPrimitive",
    "PrimitiveTimeoutError",
    "RateLimit",
    "RateLimitExceededError",
    "RateLimitPrimitive",
    "RetryPrimitive",
    "RouteNotFoundError",
    "RouterPrimitive",
    "SequentialPrimitive",
    "TTAError",
    "TimeoutPrimitive",
    "WorkflowContext",
    "WorkflowPrimitive",
    "WrapperPrimitive",
    "__version__",
}


def test_top_level_exports_exactly_the_public_api() -> None:
    assert set(tta_dev_primitives.__all__) == EXPECTED_TOP_LEVEL


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_all_is_sorted_and_resolvable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = list(module.__all__)
    # isort style, as ruff's RUF022 keeps it: CONSTANTS, then Classes, then functions.
    isort_order = sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    assert names == isort_order, f"{module_name}.__all__ is not sorted"
    for name in names:
        assert hasattr(module, name), f"{module_name}.__all__ names missing {name}"


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_every_public_name_has_a_docstring(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert module.__doc__
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module_name}.{name} has no docstring"


def test_core_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, tta_dev_primitives; "
        # asyncio (and ssl, which it loads) costs ~12 ms: the primitives import it where used.
        "heavy = ('opentelemetry.sdk', 'httpx', 'pydantic', 'numpy', 'asyncio', 'ssl'); "
        "print([m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
