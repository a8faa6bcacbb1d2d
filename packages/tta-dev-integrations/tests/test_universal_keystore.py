"""A key store that fails (a sealed Vault) takes out the providers whose keys it holds,
not the request: routing goes on with the providers whose keys could be read."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from replay_server import ReplayServer, Reply
from tta_dev_integrations.llm import create_provider
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.keys import FoundKey, set_key_lookup
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import WorkflowContext
from tta_secrets import VaultSealedError


async def test_a_sealed_vault_skips_its_provider_and_the_request_is_served(tmp_path: Path):
    free = ReplayServer().start()
    sealed = ReplayServer().start()
    free.add(
        "/chat/completions",
        Reply.json({"model": "m", "choices": [{"message": {"content": "served"}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 1}}),
    )  # fmt: skip

    def lookup(names: Sequence[str]) -> FoundKey | None:
        if "OPENROUTER_API_KEY" in names:
            return FoundKey("or-key", "env:OPENROUTER_API_KEY")
        raise VaultSealedError("Vault at http://127.0.0.1:1 is sealed; unseal it")

    set_key_lookup(lookup)
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    providers = {
        "openrouter": create_provider("openrouter", base_url=free.url),
        "github": create_provider("github", base_url=sealed.url),
    }
    try:
        universal = UniversalLLMPrimitive(
            budget_profile="free",
            free_models=["github-gpt-4.1", "kimi"],
            ledger=ledger,
            providers=providers,
            coder="none",
        )
        response = await universal.execute({"prompt": "hi", "complexity": "low"}, WorkflowContext())
    finally:
        set_key_lookup(None)
        for provider in providers.values():
            await provider.aclose()
        await ledger.close()
        free.stop()
        sealed.stop()
    assert response.content == "served"
    assert response.routing.chosen == "kimi"
    assert sealed.requests == []
    dropped = {c.model: c.reason for c in response.routing.candidates if not c.kept}
    assert "not available" in dropped["github-gpt-4.1"]
