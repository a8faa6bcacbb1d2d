"""The hint of a missing secret is a command that works: shell for a name, Vault for PATH#FIELD."""

from __future__ import annotations

import pytest

from tta_secrets import SecretLoader, SecretNotFoundError, VaultSource
from tta_secrets.errors import SecretNotFoundError as Direct


def test_a_plain_name_is_set_with_export() -> None:
    message = str(SecretNotFoundError("OPENAI_API_KEY", ["env#OPENAI_API_KEY"]))
    assert "`export OPENAI_API_KEY=...`" in message


def test_a_vault_reference_names_the_vault_command_not_an_export() -> None:
    message = str(Direct("db#password", ["env#db#password", "vault:secret/tta/db#password"]))
    assert "export db#password" not in message
    assert "`vault kv patch -mount=secret tta/db password=...`" in message
    assert "VAULT_ADDR" not in message


def test_a_vault_reference_without_vault_says_how_to_turn_it_on() -> None:
    message = str(SecretNotFoundError("db#password", ["env#db#password"]))
    assert "export db#password" not in message
    assert "`vault kv patch -mount=secret tta/db password=...`" in message
    assert "set VAULT_ADDR and VAULT_TOKEN" in message


def test_the_hint_follows_the_sources_mount_and_path() -> None:
    class Unreachable(VaultSource):
        def lookup(self, name: str) -> str | None:
            return None

    source = Unreachable("http://127.0.0.1:1", mount="kv", path="apps/agent", token="t")
    loader = SecretLoader([source])
    with pytest.raises(SecretNotFoundError) as caught:
        loader.get("db#password")
    assert "`vault kv patch -mount=kv apps/agent/db password=...`" in str(caught.value)
