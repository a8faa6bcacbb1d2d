"""The LLM layer's exported surface: sorted, resolvable, documented, and light to import."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

MODULES = [
    "tta_dev_integrations.llm",
    "tta_dev_integrations.llm.errors",
    "tta_dev_integrations.llm.types",
    "tta_dev_integrations.llm.catalog",
    "tta_dev_integrations.llm.testing",
]


@pytest.mark.parametrize("module_name", MODULES)
def test_all_is_sorted_resolvable_and_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    names = list(module.__all__)
    isort_order = sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    assert names == isort_order
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{module_name}.{name} has no docstring"


# Loaded on first use, never by importing the layer: asyncio (~12 ms with ssl, which it
# imports), HTTP clients, database drivers, pricing data, the local model, telemetry
# SDKs, the secrets loader and its sources (python-dotenv).
HEAVY = (
    "asyncio",
    "ssl",
    "httpx",
    "httpx2",
    "sqlite3",
    "psycopg",
    "genai_prices",
    "llama_cpp",
    "opentelemetry.sdk",
    "prometheus_client",
    "dotenv",
    "tta_secrets.loader",
    "tta_secrets.sources",
)


def test_importing_the_llm_layer_loads_no_heavy_dependency() -> None:
    code = (
        f"import sys, tta_dev_integrations.llm; print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"importing tta_dev_integrations.llm loaded {out.stdout}"
