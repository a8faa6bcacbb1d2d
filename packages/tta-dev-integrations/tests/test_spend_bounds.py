"""The input upper bound and the output cap of a paid request (``llm.spend``)."""

from __future__ import annotations

import struct
import zlib

import pytest

from tta_dev_integrations.llm import load_catalog
from tta_dev_integrations.llm.providers.base import token_count
from tta_dev_integrations.llm.spend import (
    MIN_OUTPUT_TOKENS,
    check_usd,
    image_size,
    image_tokens,
    input_token_bound,
    refuse_empty_prompt,
    spend_bound,
)
from tta_dev_integrations.llm.types import ImagePart, LLMRequest, Message, Tool

CATALOG = load_catalog()


def png(width: int, height: int) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(header))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
    )


def jpeg(width: int, height: int) -> bytes:
    app0 = (
        b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    )
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app0 + sof + b"\xff\xd9"


def test_image_sizes_are_read_from_their_headers() -> None:
    assert image_size(png(1024, 768)) == (1024, 768)
    assert image_size(jpeg(4000, 3000)) == (4000, 3000)
    assert image_size(b"GIF89a" + struct.pack("<HH", 320, 200)) == (320, 200)
    assert image_size(b"not an image") is None
    assert image_size(png(1024, 768)[:20]) is None  # cut short: unreadable, not a crash


@pytest.mark.parametrize(
    ("alias", "image", "tokens"),
    [
        # Anthropic: w*h/750, at most 1,600.
        ("claude-haiku-4.5", ImagePart(data=png(200, 150)), 40),
        ("claude-haiku-4.5", ImagePart(data=jpeg(4000, 3000)), 1600),
        ("claude-haiku-4.5", ImagePart(url="https://x.example/a.png"), 1600),
        # OpenAI: the larger of the tile rule (1024x1024 -> 765) and the patch rule (1024).
        ("gpt-4.1", ImagePart(data=png(1024, 1024)), 1024),
        ("gpt-4.1", ImagePart(url="https://x.example/a.png"), 1536),
        # gpt-4o-mini counts 33.34 times the tokens (256 patches), rounded up.
        ("gpt-4o-mini", ImagePart(data=png(512, 512)), 8536),
    ],
)
def test_images_count_by_their_provider_rule(alias: str, image: ImagePart, tokens: int) -> None:
    assert image_tokens(image, CATALOG[alias]) == tokens


def test_a_data_url_image_is_sized_like_its_bytes() -> None:
    inline = ImagePart(data=png(200, 150))
    as_url = ImagePart(url=inline.data_url)
    model = CATALOG["claude-haiku-4.5"]
    assert image_tokens(as_url, model) == image_tokens(inline, model) == 40


def test_text_counts_a_token_per_utf8_byte_with_system_and_tools() -> None:
    model = CATALOG["gpt-4.1"]
    chinese = LLMRequest(messages=(Message("user", "解释" * 1000),))
    english = LLMRequest(messages=(Message("user", "ab" * 1000),))
    # A Chinese character is about one token and three bytes: the bound is above both.
    assert input_token_bound(chinese, model) >= 6000
    assert input_token_bound(chinese, model) - input_token_bound(english, model) == 4000
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    with_tools = LLMRequest(
        messages=(Message("system", "Be brief."), Message("user", "ab" * 1000)),
        tools=(Tool("weather", "Today's weather", schema),),
    )
    assert input_token_bound(with_tools, model) > input_token_bound(english, model) + 600


def test_the_output_cap_fits_the_money_left_but_never_under_the_minimum() -> None:
    model = CATALOG["gpt-4.1"]
    request = LLMRequest(messages=(Message("user", "Hi"),))
    roomy = spend_bound(model, request, 100, None)
    assert roomy.output_tokens == model.max_output_tokens
    tight = spend_bound(model, request, 100, 0.01)
    assert tight.usd <= 0.01
    affordable = (0.01 - 100 * 2e-6) / 8e-6  # 1,225 at gpt-4.1's $2 and $8 a million
    assert affordable - 1 <= tight.output_tokens <= affordable
    broke = spend_bound(model, request, 100, 0.0001)
    assert broke.output_tokens == MIN_OUTPUT_TOKENS
    assert broke.usd > 0.0001  # does not fit: the model is not called


@pytest.mark.parametrize(
    ("value", "expected"),
    [(12, 12), (12.0, 12), (None, 0), (-3, -1), (1.5, -1), ("12", -1), (True, -1), ([1], -1)],
)
def test_token_counts_a_provider_got_wrong_are_flagged(value: object, expected: int) -> None:
    assert token_count(value) == expected


@pytest.mark.parametrize("value", [True, "5", [5], -1, float("nan"), float("inf"), 1e10])
def test_bad_dollar_amounts_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(ValueError, match="monthly_limit"):
        check_usd("monthly_limit", value)


def test_a_blank_prompt_is_refused() -> None:
    with pytest.raises(ValueError, match="prompt is empty"):
        refuse_empty_prompt(LLMRequest.from_value({"prompt": "  \n"}))
    with pytest.raises(ValueError, match="prompt is empty"):
        refuse_empty_prompt(LLMRequest.from_value({"system": "Be brief.", "prompt": ""}))
    refuse_empty_prompt(LLMRequest(messages=(Message("user", (ImagePart(data=png(1, 1)),)),)))


@pytest.mark.parametrize(
    ("provider", "base_url", "path"),
    [
        ("openai", "https://api.openai.com/v1", ("max_completion_tokens",)),
        ("openrouter", "https://openrouter.ai/api/v1", ("max_tokens",)),
        ("anthropic", "https://api.anthropic.com", ("max_tokens",)),
        (
            "gemini",
            "https://generativelanguage.googleapis.com",
            ("generationConfig", "maxOutputTokens"),
        ),
    ],
)
def test_every_adapter_sends_the_output_cap_it_is_given(
    provider: str, base_url: str, path: tuple[str, ...]
) -> None:
    from tta_dev_integrations.llm import PROVIDER_SPECS
    from tta_dev_integrations.llm.providers.anthropic import AnthropicMessagesAPI
    from tta_dev_integrations.llm.providers.gemini import GeminiAPI
    from tta_dev_integrations.llm.providers.openai_compat import OpenAIChatAPI

    apis = {
        "anthropic": AnthropicMessagesAPI(),
        "gemini": GeminiAPI(),
    }
    api = apis.get(provider) or OpenAIChatAPI.for_endpoint(PROVIDER_SPECS[provider], base_url)
    request = LLMRequest(messages=(Message("user", "Hi"),), max_tokens=1234)
    body = api.build(request, "some-model", stream=False).body
    for key in path:
        body = body[key]
    assert body == 1234
