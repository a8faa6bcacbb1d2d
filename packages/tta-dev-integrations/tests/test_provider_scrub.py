"""A provider error never carries a loaded secret, even one the server echoes encoded."""

from __future__ import annotations

import base64
from urllib.parse import quote

import pytest

from replay_server import ReplayServer, Reply
from tta_dev_integrations.llm import AuthenticationError, create_provider
from tta_dev_integrations.llm.types import LLMRequest
from tta_secrets.redaction import clear_registered_secrets, register_secret

KEY = "sk-canary/+=value-0123456789abcdef"


@pytest.mark.parametrize(
    "echo",
    [KEY, quote(KEY, safe=""), base64.b64encode(f"user:{KEY}".encode()).decode()],
    ids=["raw", "url-encoded", "base64"],
)
async def test_an_echoed_key_is_scrubbed_from_the_error(echo: str) -> None:
    register_secret(KEY)
    server = ReplayServer().start()
    server.add(
        "/chat/completions",
        Reply.json({"error": {"message": f"invalid key {echo}", "type": "auth"}}, status=401),
    )
    provider = create_provider("openai", base_url=server.url, api_key=KEY)
    try:
        with pytest.raises(AuthenticationError) as caught:
            await provider.complete(LLMRequest.from_value("hi"), "gpt-4o")
    finally:
        await provider.aclose()
        server.stop()
        clear_registered_secrets()
    text = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert "invalid key" in text
    assert echo not in text
    assert KEY not in text
