from __future__ import annotations

from typing import Any

import pytest

from tta_dev_integrations.llm import ImagePart, LLMRequest, Message, TextPart


def test_prompt_string_and_dict_forms() -> None:
    assert LLMRequest.from_value("hi").messages == (Message("user", "hi"),)
    request = LLMRequest.from_value(
        {"system": "be brief", "prompt": "hi", "max_tokens": 5, "stop": "END"}
    )
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.system == "be brief"
    assert request.stop == ("END",)


def test_messages_with_text_and_image_parts() -> None:
    request = LLMRequest.from_value(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image", "data": "aGVsbG8=", "media_type": "image/jpeg"},
                    ],
                }
            ]
        }
    )
    text, image = request.messages[0].parts
    assert isinstance(text, TextPart)
    assert isinstance(image, ImagePart)
    assert image.data == b"hello"
    assert image.data_url == "data:image/jpeg;base64,aGVsbG8="
    assert request.has_images
    assert "hello" not in repr(image)


def test_universal_keys_are_accepted_alongside() -> None:
    request = LLMRequest.from_value({"prompt": "x", "complexity": "high", "justification": {}})
    assert request.messages[0].text == "x"


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ({}, ValueError, "prompt or at least one message"),
        ({"prompt": "x", "max_token": 5}, ValueError, "unknown LLM request key"),
        ({"prompt": "x", "max_tokens": 0}, ValueError, "max_tokens"),
        ({"prompt": "x", "temperature": 3}, ValueError, "temperature"),
        ({"messages": [{"role": "robot", "content": "x"}]}, ValueError, "role"),
        ({"messages": [{"role": "user", "content": [{"type": "video"}]}]}, ValueError, "type"),
        (42, TypeError, "LLMRequest, a dict or a prompt"),
    ],
)
def test_bad_requests_are_clear_errors(value: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        LLMRequest.from_value(value)


def test_image_part_needs_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ImagePart()
    with pytest.raises(ValueError, match="exactly one"):
        ImagePart(url="http://x", data=b"1")
