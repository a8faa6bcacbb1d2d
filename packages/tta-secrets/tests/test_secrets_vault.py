"""Vault KV v2 against a real OpenBao dev server (needs("openbao"))."""

import secrets

import pytest

from tta_secrets import (
    SecretLoader,
    SecretNotFoundError,
    VaultAuthError,
    VaultCheckAndSetError,
    VaultPathNotFoundError,
    VaultSealedError,
    VaultSource,
    VaultUnavailableError,
)
from tta_secrets.redaction import scrub

pytestmark = pytest.mark.needs("openbao")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def unique_path():
    return f"t-{secrets.token_hex(4)}"


_opened = []


@pytest.fixture(autouse=True)
def _close_sources():
    yield
    while _opened:
        _opened.pop().close()


def vault_source(addr, **options):
    """A VaultSource closed after the test (its pool would otherwise leak sockets)."""
    source = VaultSource(addr, **options)
    _opened.append(source)
    return source


def source_for(server, path, **options):
    return vault_source(server.addr, token=server.token, path=path, **options)


def test_round_trip_through_the_loader(openbao):
    path = unique_path()
    vault = source_for(openbao, path)
    assert vault.write({"OPENAI_API_KEY": "sk-vault-round-trip", "PORT": "5432"}) == 1
    loader = SecretLoader([vault])
    located = loader.locate("OPENAI_API_KEY")
    assert located.secret.get_secret_value() == "sk-vault-round-trip"
    assert located.source == f"vault:secret/{path}#OPENAI_API_KEY"
    assert "sk-vault-round-trip" not in scrub("sk-vault-round-trip")
    with pytest.raises(SecretNotFoundError, match=f"vault:secret/{path}#NOT_THERE"):
        loader.get("NOT_THERE")


def test_sub_paths_under_the_prefix(openbao):
    path = unique_path()
    vault = source_for(openbao, path)
    vault.write({"password": "db-password-1"}, path=f"{path}/db")
    assert SecretLoader([vault]).get("db#password").get_secret_value() == "db-password-1"
    assert vault.where("db#password") == f"vault:secret/{path}/db#password"


def test_versions(openbao):
    path = unique_path()
    vault = source_for(openbao, path)
    vault.write({"K": "first-value"})
    vault.write({"K": "second-value"})
    assert vault.read_version(1).data["K"] == "first-value"
    latest = vault.read()
    assert latest.version == 2
    assert latest.data["K"] == "second-value"
    assert "second-value" not in repr(latest)


def test_check_and_set(openbao):
    path = unique_path()
    vault = source_for(openbao, path)
    assert vault.write({"K": "created-value"}, cas=0) == 1
    with pytest.raises(VaultCheckAndSetError, match="check-and-set"):
        vault.write({"K": "again"}, cas=0)
    assert vault.write({"K": "updated-value"}, cas=1) == 2
    with pytest.raises(VaultCheckAndSetError):
        vault.write({"K": "stale"}, cas=1)
    assert vault.read().data["K"] == "updated-value"


def test_soft_delete_says_so_and_how_to_undelete(openbao):
    path = unique_path()
    vault = source_for(openbao, path)
    vault.write({"K": "v1-value"})
    vault.write({"K": "v2-value"})
    assert openbao.api("DELETE", f"secret/data/{path}").status_code == 204
    vault.invalidate()
    with pytest.raises(VaultPathNotFoundError) as caught:
        vault.lookup("K")
    error = caught.value
    assert error.deleted
    assert not error.destroyed
    assert error.version == 2
    assert f"bao kv undelete -mount=secret -versions=2 {path}" in str(error)
    with pytest.raises(SecretNotFoundError, match="soft-deleted"):
        SecretLoader([vault]).get("K")
    openbao.api("POST", f"secret/undelete/{path}", json={"versions": [2]})
    vault.invalidate()
    assert vault.lookup("K") == "v2-value"


def test_destroyed_version(openbao):
    path = unique_path()
    vault = source_for(openbao, path)
    vault.write({"K": "doomed-value"})
    openbao.api("PUT", f"secret/destroy/{path}", json={"versions": [1]})
    with pytest.raises(VaultPathNotFoundError, match="destroyed") as caught:
        vault.read()
    assert caught.value.destroyed


def test_never_written_path(openbao):
    vault = source_for(openbao, unique_path())
    with pytest.raises(VaultPathNotFoundError, match="no Vault secret at") as caught:
        vault.read()
    assert not caught.value.deleted
    assert caught.value.status == 404


def test_missing_path_is_cached_like_a_value(openbao):
    path = unique_path()
    clock = Clock()
    vault = source_for(openbao, path, clock=clock, ttl_s=60)
    with pytest.raises(VaultPathNotFoundError):
        vault.read()
    openbao.api("POST", f"secret/data/{path}", json={"data": {"K": "late-value"}})
    with pytest.raises(VaultPathNotFoundError):
        vault.read()
    clock.now += 61
    assert vault.lookup("K") == "late-value"


def test_wrong_token_is_an_auth_error_without_the_token(openbao):
    path = unique_path()
    source_for(openbao, path).write({"K": "guarded-value"})
    wrong = "wrong-token-" + secrets.token_hex(8)
    vault = vault_source(openbao.addr, token=wrong, path=path)
    with pytest.raises(VaultAuthError, match="403") as caught:
        SecretLoader([vault]).get("K")
    assert wrong not in str(caught.value)
    assert caught.value.status == 403


def test_ttl_cache(openbao):
    path = unique_path()
    clock = Clock()
    writer = source_for(openbao, path)
    writer.write({"K": "cached-one"})
    vault = source_for(openbao, path, clock=clock, ttl_s=30)
    assert vault.lookup("K") == "cached-one"
    writer.write({"K": "cached-two"})
    clock.now += 29
    assert vault.lookup("K") == "cached-one"
    clock.now += 2
    assert vault.lookup("K") == "cached-two"


def setup_approle(server, path):
    policy = f'path "secret/data/{path}" {{\n  capabilities = ["read"]\n}}\n'
    server.api("PUT", f"sys/policies/acl/{path}-read", json={"policy": policy})
    if "approle/" not in server.api("GET", "sys/auth").json()["data"]:
        assert server.api("POST", "sys/auth/approle", json={"type": "approle"}).status_code == 204
    server.api(
        "POST", f"auth/approle/role/{path}",
        json={"token_policies": [f"{path}-read"], "token_ttl": "20m"},
    )  # fmt: skip
    role_id = server.api("GET", f"auth/approle/role/{path}/role-id").json()["data"]["role_id"]
    secret_id = server.api("POST", f"auth/approle/role/{path}/secret-id").json()["data"][
        "secret_id"
    ]
    return role_id, secret_id


def test_approle_login_reads_with_a_read_only_policy(openbao, tmp_path):
    path = unique_path()
    source_for(openbao, path).write({"ANTHROPIC_API_KEY": "sk-ant-approle-value"})
    role_id, secret_id = setup_approle(openbao, path)
    environ = {
        "VAULT_ADDR": openbao.addr, "VAULT_ROLE_ID": role_id, "VAULT_SECRET_ID": secret_id,
        "TTA_VAULT_PATH": path,
    }  # fmt: skip
    loader = SecretLoader.from_environment(environ, cwd=tmp_path)
    _opened.append(loader)
    located = loader.locate("ANTHROPIC_API_KEY")
    assert located.secret.get_secret_value() == "sk-ant-approle-value"
    assert located.source == f"vault:secret/{path}#ANTHROPIC_API_KEY"
    assert secret_id not in scrub(secret_id)
    vault = loader.sources[-1]
    with pytest.raises(VaultAuthError):
        vault.write({"ANTHROPIC_API_KEY": "overwrite"})  # the policy is read-only


def test_approle_with_a_wrong_secret_id(openbao):
    path = unique_path()
    role_id, _ = setup_approle(openbao, path)
    wrong = secrets.token_hex(16)
    vault = vault_source(openbao.addr, role_id=role_id, secret_id=wrong, path=path)
    with pytest.raises(VaultAuthError, match="AppRole login") as caught:
        vault.lookup("K")
    assert wrong not in str(caught.value)


def test_namespace(openbao):
    namespace = f"ns{secrets.token_hex(3)}"
    assert openbao.api("POST", f"sys/namespaces/{namespace}").status_code == 200
    headers = {"X-Vault-Namespace": namespace}
    mounted = openbao.api(
        "POST", "sys/mounts/secret", json={"type": "kv", "options": {"version": "2"}},
        headers=headers,
    )  # fmt: skip
    assert mounted.status_code == 204
    in_namespace = vault_source(openbao.addr, token=openbao.token, namespace=namespace, path="app")
    in_namespace.write({"K": "namespaced-value"})
    assert in_namespace.lookup("K") == "namespaced-value"
    with pytest.raises(VaultPathNotFoundError):
        source_for(openbao, "app").lookup("K")  # the root namespace has no such secret
    unknown = vault_source(openbao.addr, token=openbao.token, namespace="nope-ns", path="app")
    with pytest.raises(VaultPathNotFoundError, match="namespace not found"):
        unknown.lookup("K")


def test_sealed_server_fails_closed(own_openbao):
    clock = Clock()
    sleeps = []
    vault = source_for(own_openbao, "app", clock=clock, ttl_s=10, sleep=sleeps.append)
    vault.write({"K": "before-seal"})
    assert vault.lookup("K") == "before-seal"
    assert own_openbao.api("PUT", "sys/seal").status_code == 204
    clock.now += 11
    with pytest.raises(VaultSealedError, match="sealed"):
        SecretLoader([vault]).get("K")
    assert sleeps == []  # sealed is not retried


def test_stopped_server_fails_closed_after_bounded_retries(own_openbao):
    clock = Clock()
    sleeps = []
    vault = source_for(
        own_openbao, "app", clock=clock, ttl_s=10, sleep=sleeps.append, retries=3, backoff_s=0.1
    )
    vault.write({"K": "before-stop"})
    assert vault.lookup("K") == "before-stop"
    own_openbao.stop()
    clock.now += 11
    loader = SecretLoader([vault])
    with pytest.raises(VaultUnavailableError, match="after 4 attempts"):
        loader.get("K")
    assert sleeps == [0.1, 0.2, 0.4]
    with pytest.raises(VaultUnavailableError):
        loader.find("K")  # the failure is remembered for error_ttl_s: no new retries
    assert len(sleeps) == 3
    clock.now += 3
    with pytest.raises(VaultUnavailableError):
        loader.find("K")  # and then tried again, still failing closed
    assert len(sleeps) == 6
