import asyncio

import pytest

from tta_secrets import (
    DotenvSource,
    EnvSource,
    SecretLoader,
    SecretNotFoundError,
    SecretsConfigError,
    SecretSource,
    VaultPathNotFoundError,
    VaultSealedError,
    VaultSource,
    default_loader,
    redaction,
    reset_default_loader,
    set_default_loader,
)
from tta_secrets.redaction import scrub


class DictSource(SecretSource):
    """A source over a dict that can also fail, for precedence and failure tests."""

    def __init__(self, label, values, error=None):
        self._label = label
        self.values = values
        self.error = error
        self.asked = []

    @property
    def label(self):
        return self._label

    def lookup(self, name):
        self.asked.append(name)
        if self.error is not None:
            raise self.error
        return self.values.get(name)


def write_env(path, text):
    path.write_text(text)
    return path


def test_env_source_reads_live_and_ignores_empty(monkeypatch):
    source = EnvSource()
    monkeypatch.setenv("TTA_T_KEY", "value-123456")
    assert source.lookup("TTA_T_KEY") == "value-123456"
    monkeypatch.setenv("TTA_T_KEY", "")
    assert source.lookup("TTA_T_KEY") is None
    assert source.where("TTA_T_KEY") == "env:TTA_T_KEY"


def test_dotenv_source_reads_the_file_and_tolerates_a_missing_one(tmp_path):
    path = write_env(
        tmp_path / ".env",
        "# comment\nA_KEY=plain-value\nQUOTED='has # hash'\nEMPTY=\nexport EXPORTED=yes-value\n"
        "REF=${A_KEY}\n",
    )
    source = DotenvSource(path)
    assert source.lookup("A_KEY") == "plain-value"
    assert source.lookup("QUOTED") == "has # hash"
    assert source.lookup("EMPTY") is None
    assert source.lookup("EXPORTED") == "yes-value"
    assert source.lookup("REF") == "${A_KEY}"  # taken as written, not expanded
    assert source.where("A_KEY") == f"dotenv:{path}#A_KEY"
    missing = DotenvSource(tmp_path / "nope.env")
    assert not missing.exists
    assert missing.lookup("A_KEY") is None


def test_dotenv_reload_sees_changes(tmp_path):
    path = write_env(tmp_path / ".env", "K=one-value\n")
    source = DotenvSource(path)
    path.write_text("K=two-value\n")
    assert source.lookup("K") == "one-value"
    source.reload()
    assert source.lookup("K") == "two-value"


def test_first_source_wins_in_the_order_given():
    env = DictSource("env", {"K": "from-env", "ONLY_VAULT": ""})
    dot = DictSource("dotenv", {"K": "from-dotenv", "D": "dotenv-only"})
    vault = DictSource("vault", {"K": "from-vault", "D": "vault-d", "ONLY_VAULT": "vault-v"})
    loader = SecretLoader([env, dot, vault])
    assert loader.get("K").get_secret_value() == "from-env"
    assert loader.get("D").get_secret_value() == "dotenv-only"
    assert loader.get("ONLY_VAULT").get_secret_value() == "vault-v"
    reversed_loader = SecretLoader([vault, dot, env])
    assert reversed_loader.get("K").get_secret_value() == "from-vault"
    assert reversed_loader.locate("K").source == "vault#K"


def test_later_sources_are_not_asked_once_found():
    env = DictSource("env", {"K": "from-env"})
    vault = DictSource("vault", {}, error=VaultSealedError("sealed"))
    assert SecretLoader([env, vault]).get("K").get_secret_value() == "from-env"
    assert vault.asked == []


def test_locate_any_asks_each_source_for_every_name_first():
    env = DictSource("env", {"GOOGLE_API_KEY": "google-key"})
    vault = DictSource("vault", {"GEMINI_API_KEY": "gemini-key"})
    located = SecretLoader([env, vault]).locate_any(["GEMINI_API_KEY", "GOOGLE_API_KEY"])
    assert located.name == "GOOGLE_API_KEY"
    assert located.source == "env#GOOGLE_API_KEY"
    assert vault.asked == []


def test_not_found_names_every_source_searched_and_no_value():
    loader = SecretLoader([DictSource("env", {"OTHER": "other-value"}), DictSource("x", {})])
    with pytest.raises(SecretNotFoundError) as caught:
        loader.get("MISSING_KEY")
    message = str(caught.value)
    assert "env#MISSING_KEY" in message
    assert "x#MISSING_KEY" in message
    assert "other-value" not in message
    assert "export MISSING_KEY=" in message
    assert caught.value.searched == ("env#MISSING_KEY", "x#MISSING_KEY")
    assert loader.find("MISSING_KEY") is None
    assert loader.locate("MISSING_KEY") is None


def test_a_missing_vault_path_is_a_miss_with_its_reason_kept():
    gone = VaultPathNotFoundError("version 3 of secret/tta was soft-deleted", path="secret/tta")
    loader = SecretLoader([DictSource("env", {}), DictSource("vault", {}, error=gone)])
    assert loader.find("K") is None
    with pytest.raises(SecretNotFoundError, match="soft-deleted") as caught:
        loader.get("K")
    assert caught.value.__cause__ is gone


def test_a_failing_source_stops_the_lookup_fail_closed():
    loader = SecretLoader(
        [DictSource("vault", {}, error=VaultSealedError("sealed")), DictSource("env", {"K": "v"})]
    )
    with pytest.raises(VaultSealedError):
        loader.get("K")
    with pytest.raises(VaultSealedError):
        loader.find("K")


def test_returned_values_are_registered_for_redaction():
    loader = SecretLoader([DictSource("env", {"K": "registered-value"})])
    assert scrub("x registered-value y") == "x registered-value y"
    loader.get("K")
    assert "registered-value" not in scrub("x registered-value y")


async def test_async_lookup():
    loader = SecretLoader([DictSource("env", {"K": "async-value"})])
    secret, located = await asyncio.gather(loader.aget("K"), loader.alocate_any(["N", "K"]))
    assert secret.get_secret_value() == "async-value"
    assert located.name == "K"


def test_from_environment_default_chain_without_vault(tmp_path):
    write_env(tmp_path / ".env", "FROM_DOTENV=dotenv-value\nBOTH=dotenv-both\n")
    environ = {"BOTH": "env-both"}
    loader = SecretLoader.from_environment(environ, cwd=tmp_path)
    assert [s.label for s in loader.sources] == ["env", f"dotenv:{tmp_path / '.env'}"]
    assert loader.get("BOTH").get_secret_value() == "env-both"
    assert loader.get("FROM_DOTENV").get_secret_value() == "dotenv-value"


def test_from_environment_custom_dotenv_path_and_order(tmp_path):
    path = write_env(tmp_path / "prod.env", "BOTH=dotenv-both\n")
    environ = {"BOTH": "env-both", "TTA_DOTENV": str(path), "TTA_SECRETS_ORDER": "dotenv, env"}
    loader = SecretLoader.from_environment(environ, cwd=tmp_path)
    assert loader.locate("BOTH").source == f"dotenv:{path}#BOTH"


def test_from_environment_adds_vault_with_settings_from_dotenv(tmp_path):
    write_env(
        tmp_path / ".env",
        "VAULT_ADDR=http://127.0.0.1:1\nVAULT_TOKEN=dotenv-vault-token\n"
        "TTA_VAULT_MOUNT=kv\nTTA_VAULT_PATH=apps/tta\nVAULT_NAMESPACE=team\n",
    )
    loader = SecretLoader.from_environment({}, cwd=tmp_path)
    vault = loader.sources[-1]
    assert isinstance(vault, VaultSource)
    assert vault.label == "vault:kv/apps/tta"
    assert vault.client.namespace == "team"
    assert "dotenv-vault-token" not in repr(vault) + repr(vault.client)
    assert "dotenv-vault-token" not in scrub("dotenv-vault-token")  # the token is registered
    loader.close()


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"VAULT_ADDR": "http://127.0.0.1:1"}, "needs a token"),
        ({"VAULT_ADDR": "http://x", "VAULT_TOKEN": "t", "VAULT_ROLE_ID": "r"}, "not both"),
        ({"TTA_SECRETS_ORDER": "env,aws"}, "unknown sources"),
        ({"VAULT_ADDR": "http://x", "VAULT_TOKEN": "t", "TTA_VAULT_TTL": "soon"}, "seconds"),
    ],
)
def test_bad_settings_are_config_errors(tmp_path, environ, match):
    with pytest.raises(SecretsConfigError, match=match):
        SecretLoader.from_environment(environ, cwd=tmp_path)


def test_default_loader_is_cached_and_resettable(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.delenv("TTA_DOTENV", raising=False)
    first = default_loader()
    assert default_loader() is first
    reset_default_loader()
    assert default_loader() is not first
    mine = SecretLoader([])
    set_default_loader(mine)
    assert default_loader() is mine


def test_loader_repr_names_sources_only():
    loader = SecretLoader([DictSource("env", {"K": "secret-value-x"})])
    loader.get("K")
    assert repr(loader) == "SecretLoader([env])"
    assert redaction.registered_count() == 1
