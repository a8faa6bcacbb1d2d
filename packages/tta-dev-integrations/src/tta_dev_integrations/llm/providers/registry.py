"""The providers TTA.dev knows: where each lives, its key, and the adapter for its API."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from tta_dev_integrations.llm.providers.base import HTTPProvider, Provider, ProviderSpec, WireAPI

__all__ = ["PROVIDER_SPECS", "create_provider"]

PROVIDER_SPECS: dict[str, ProviderSpec] = {
    spec.name: spec
    for spec in (
        ProviderSpec("openai", "openai", "https://api.openai.com/v1", "OPENAI_BASE_URL",
                     ("OPENAI_API_KEY",)),
        ProviderSpec("openrouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_BASE_URL",
                     ("OPENROUTER_API_KEY",),
                     headers={"HTTP-Referer": "https://tta.dev", "X-Title": "TTA.dev"}),
        ProviderSpec("huggingface", "openai", "https://router.huggingface.co/v1", "HF_BASE_URL",
                     ("HF_TOKEN",)),
        ProviderSpec("github", "openai", "https://models.github.ai/inference",
                     "GITHUB_MODELS_BASE_URL", ("GITHUB_TOKEN",)),
        ProviderSpec("ollama", "openai", "http://localhost:11434/v1", "OLLAMA_BASE_URL",
                     key_required=False),
        ProviderSpec("anthropic", "anthropic", "https://api.anthropic.com", "ANTHROPIC_BASE_URL",
                     ("ANTHROPIC_API_KEY",)),
        ProviderSpec("gemini", "gemini", "https://generativelanguage.googleapis.com",
                     "GOOGLE_GEMINI_BASE_URL", ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
        ProviderSpec("local", "local", "", "", key_required=False),
    )
}  # fmt: skip


def _wire_api(name: str) -> Callable[[ProviderSpec, str], WireAPI]:
    if name == "openai":
        from tta_dev_integrations.llm.providers.openai_compat import OpenAIChatAPI

        return OpenAIChatAPI.for_endpoint
    if name == "anthropic":
        from tta_dev_integrations.llm.providers.anthropic import AnthropicMessagesAPI

        return lambda spec, url: AnthropicMessagesAPI()
    if name == "gemini":
        from tta_dev_integrations.llm.providers.gemini import GeminiAPI

        return lambda spec, url: GeminiAPI()
    raise ValueError(f"no HTTP adapter for API {name!r}")


def create_provider(name: str, **options: Any) -> Provider:
    """A new provider instance for ``name`` (options: api_key, base_url, timeout, ...)."""
    spec = PROVIDER_SPECS.get(name)
    if spec is None:
        raise ValueError(f"unknown provider {name!r}; known: {sorted(PROVIDER_SPECS)}")
    if spec.api == "local":
        from tta_dev_integrations.llm.providers.local import LocalProvider

        return LocalProvider(**options)
    base_url = options.get("base_url") or os.environ.get(spec.base_url_env) or spec.base_url
    return HTTPProvider(spec, _wire_api(spec.api)(spec, base_url), **options)
