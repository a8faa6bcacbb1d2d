"""Vault over TLS, configured by the Vault CLI's variables, against OpenBao serving TLS.

A throwaway CA (made here with ``cryptography``) signs the server's certificate and a
client certificate. One OpenBao dev server listens on three ports: plain HTTP (the dev
listener, used to write the test secret), TLS, and TLS that requires a client
certificate. The loader is built from variables, as an application's would be.
"""

from __future__ import annotations

import logging
import ssl
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from throwaway_pki import Pki, make_pki
from tta_secrets.errors import SecretsConfigError, VaultUnavailableError
from tta_secrets.loader import SecretLoader
from tta_secrets.sources.vault import VaultSource

pytestmark = pytest.mark.needs("openbao")

VALUE = "sk-tls-0123456789abcdef"


@dataclass
class TlsBao:
    plain: Any  # conftest.BaoServer: the dev listener (plain HTTP), token, process
    tls_addr: str
    mtls_addr: str
    pki: Pki


@pytest.fixture(scope="module")
def tls_bao(
    openbao_starter: Callable[[Sequence[str]], Any], loopback_port: Callable[[], int]
) -> Iterator[TlsBao]:
    home = Path(tempfile.mkdtemp(prefix="tta-bao-tls-"))
    pki = make_pki(home)
    tls_port, mtls_port = loopback_port(), loopback_port()
    config = home / "listeners.hcl"
    config.write_text(
        f"""
listener "tcp" {{
  address = "127.0.0.1:{tls_port}"
  tls_cert_file = "{pki.server_cert}"
  tls_key_file = "{pki.server_key}"
}}
listener "tcp" {{
  address = "127.0.0.1:{mtls_port}"
  tls_cert_file = "{pki.server_cert}"
  tls_key_file = "{pki.server_key}"
  tls_client_ca_file = "{pki.ca}"
  tls_require_and_verify_client_cert = true
}}
""",
        encoding="utf-8",
    )
    plain = openbao_starter([f"-config={config}"])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = f"https://127.0.0.1:{tls_port}/v1/sys/health"
                trusted = ssl.create_default_context(cafile=str(pki.ca))
                if httpx.get(health, verify=trusted, timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"bao server did not serve TLS: {plain.log.read_text()[-2000:]}")
            time.sleep(0.1)
        written = plain.api("POST", "secret/data/tls-test", {"data": {"OPENAI_API_KEY": VALUE}})
        assert written.status_code == 200, written.text
        yield TlsBao(plain, f"https://127.0.0.1:{tls_port}", f"https://127.0.0.1:{mtls_port}", pki)
    finally:
        plain.stop()


def loader(addr: str, home: Path, **variables: str) -> SecretLoader:
    environ = {"VAULT_ADDR": addr, "TTA_VAULT_PATH": "tls-test", "TTA_SECRETS_ORDER": "vault"}
    environ.update(variables)
    return SecretLoader.from_environment(environ, cwd=home)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.vault-token of the machine's
    return tmp_path


def read_key(secrets_loader: SecretLoader) -> str:
    try:
        return secrets_loader.get("OPENAI_API_KEY").get_secret_value()
    finally:
        secrets_loader.close()


def test_vault_cacert_trusts_the_throwaway_ca(tls_bao: TlsBao, home: Path) -> None:
    found = loader(
        tls_bao.tls_addr, home, VAULT_TOKEN=tls_bao.plain.token, VAULT_CACERT=str(tls_bao.pki.ca)
    )
    assert read_key(found) == VALUE


def test_vault_capath_loads_every_file_of_the_directory(tls_bao: TlsBao, home: Path) -> None:
    directory = home / "cas"
    directory.mkdir()
    (directory / "unrelated.pem").write_bytes(tls_bao.pki.other_ca.read_bytes())
    (directory / "ours.crt").write_bytes(tls_bao.pki.ca.read_bytes())
    found = loader(
        tls_bao.tls_addr, home, VAULT_TOKEN=tls_bao.plain.token, VAULT_CAPATH=str(directory)
    )
    assert read_key(found) == VALUE


@pytest.mark.parametrize("ca", ["none", "other"])
def test_an_untrusted_server_fails_at_once_naming_vault_cacert(
    tls_bao: TlsBao, home: Path, ca: str
) -> None:
    variables = {"VAULT_TOKEN": tls_bao.plain.token}
    if ca == "other":
        variables["VAULT_CACERT"] = str(tls_bao.pki.other_ca)
    found = loader(tls_bao.tls_addr, home, **variables)
    started = time.monotonic()
    with pytest.raises(VaultUnavailableError, match="VAULT_CACERT") as failure:
        read_key(found)
    assert "not trusted" in str(failure.value)
    assert time.monotonic() - started < 2  # not retried with backoff
    assert tls_bao.plain.token not in str(failure.value)


def test_skip_verify_connects_and_warns_loudly(
    tls_bao: TlsBao, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tta_secrets.vault"):
        found = loader(
            tls_bao.tls_addr, home, VAULT_TOKEN=tls_bao.plain.token, VAULT_SKIP_VERIFY="true"
        )
    assert read_key(found) == VALUE
    (record,) = [r for r in caplog.records if "VAULT_SKIP_VERIFY" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert "NOT verified" in record.getMessage()


def test_skip_verify_false_still_verifies(tls_bao: TlsBao, home: Path) -> None:
    found = loader(
        tls_bao.tls_addr, home, VAULT_TOKEN=tls_bao.plain.token, VAULT_SKIP_VERIFY="false"
    )
    with pytest.raises(VaultUnavailableError, match="not trusted"):
        read_key(found)


def test_a_client_certificate_opens_the_mtls_listener(tls_bao: TlsBao, home: Path) -> None:
    pki = tls_bao.pki
    found = loader(
        tls_bao.mtls_addr,
        home,
        VAULT_TOKEN=tls_bao.plain.token,
        VAULT_CACERT=str(pki.ca),
        VAULT_CLIENT_CERT=str(pki.client_cert),
        VAULT_CLIENT_KEY=str(pki.client_key),
    )
    assert read_key(found) == VALUE


def test_without_the_client_certificate_the_mtls_listener_refuses(
    tls_bao: TlsBao, home: Path
) -> None:
    found = loader(
        tls_bao.mtls_addr, home, VAULT_TOKEN=tls_bao.plain.token, VAULT_CACERT=str(tls_bao.pki.ca)
    )
    with pytest.raises(VaultUnavailableError, match="VAULT_CLIENT_CERT"):
        read_key(found)


def test_the_vault_cli_token_file_is_used_when_no_token_is_set(tls_bao: TlsBao, home: Path) -> None:
    (home / ".vault-token").write_text(tls_bao.plain.token + "\n", encoding="utf-8")
    found = loader(tls_bao.tls_addr, home, VAULT_CACERT=str(tls_bao.pki.ca))
    assert read_key(found) == VALUE
    source = found.sources[0]
    assert isinstance(source, VaultSource)
    assert tls_bao.plain.token not in repr(source.client)


def test_no_token_anywhere_is_a_clear_configuration_error(tls_bao: TlsBao, home: Path) -> None:
    with pytest.raises(SecretsConfigError, match="VAULT_TOKEN"):
        loader(tls_bao.tls_addr, home, VAULT_CACERT=str(tls_bao.pki.ca))


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"VAULT_CACERT": "/nonexistent/ca.pem"}, "VAULT_CACERT='/nonexistent/ca.pem'"),
        ({"VAULT_CAPATH": "/nonexistent"}, "VAULT_CAPATH='/nonexistent' is not a directory"),
        ({"VAULT_CLIENT_KEY": "/k.pem"}, "VAULT_CLIENT_KEY is set without VAULT_CLIENT_CERT"),
        ({"VAULT_CLIENT_CERT": "/nonexistent/c.pem"}, "cannot load the client certificate"),
    ],
)
def test_bad_tls_settings_name_the_variable(
    home: Path, variables: dict[str, str], message: str
) -> None:
    with pytest.raises(SecretsConfigError, match=message):
        loader("https://127.0.0.1:1", home, VAULT_TOKEN="t", **variables)
