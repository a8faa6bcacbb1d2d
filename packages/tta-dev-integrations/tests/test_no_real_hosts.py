"""The conftest switch: no test can reach a real provider host."""

from __future__ import annotations

import pytest

from tta_dev_integrations.llm import LLMPrimitive, create_provider
from tta_dev_primitives import WorkflowContext


async def test_a_request_to_a_real_provider_host_is_refused() -> None:
    provider = create_provider("openai", api_key="sk-test")  # the real default base URL
    try:
        with pytest.raises(RuntimeError, match=r"may not reach api\.openai\.com"):
            await LLMPrimitive("gpt-4o-mini", provider=provider).execute("hi", WorkflowContext())
    finally:
        await provider.aclose()
