"""The Vault client's wire behaviour against a loopback recorder: headers, retries, login."""

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tta_secrets import (
    VaultAuthError,
    VaultClient,
    VaultRequestError,
    VaultSealedError,
    VaultUnavailableError,
)


def kv_body(data, version=1):
    return {"data": {"data": data, "metadata": {"version": version, "created_time": "t"}}}


class Recorder:
    """A loopback HTTP server that records requests and answers from a script."""

    def __init__(self):
        self.requests = []
        self.answers = deque()
        self.default = (200, kv_body({"K": "recorded-value"}))
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                recorder.requests.append((self.command, self.path, dict(self.headers), body))
                status, payload = (
                    recorder.answers.popleft() if recorder.answers else recorder.default
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.addr = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def clients():
    made = []

    def make(addr, **options):
        options.setdefault("sleep", sleeps.append)
        client = VaultClient(addr, **options)
        made.append(client)
        return client

    sleeps = []
    make.sleeps = sleeps
    yield make
    for client in made:
        client.close()


def test_token_and_namespace_headers_are_sent(recorder, clients):
    client = clients(recorder.addr, token="tok-header-123", namespace="team/a")
    assert client.read("kv", "apps/tta").data == {"K": "recorded-value"}
    method, path, headers, _ = recorder.requests[0]
    assert (method, path) == ("GET", "/v1/kv/data/apps/tta")
    assert headers["X-Vault-Token"] == "tok-header-123"
    assert headers["X-Vault-Namespace"] == "team/a"


def test_read_of_a_version_sends_the_version(recorder, clients):
    clients(recorder.addr, token="t-123456").read("secret", "x", version=3)
    assert recorder.requests[0][1] == "/v1/secret/data/x?version=3"


def test_write_sends_cas_option(recorder, clients):
    recorder.default = (200, {"data": {"version": 4}})
    assert clients(recorder.addr, token="t-123456").write("secret", "x", {"K": "v"}, cas=3) == 4
    assert recorder.requests[0][3] == {"data": {"K": "v"}, "options": {"cas": 3}}


def test_5xx_is_retried_with_doubling_backoff(recorder, clients):
    recorder.answers.extend([(500, {"errors": ["boom"]}), (502, {}), (429, {})])
    client = clients(recorder.addr, token="t-123456", retries=3, backoff_s=0.5)
    assert client.read("secret", "x").data["K"] == "recorded-value"
    assert clients.sleeps == [0.5, 1.0, 2.0]
    assert len(recorder.requests) == 4


def test_persistent_5xx_fails_closed(recorder, clients):
    recorder.default = (500, {"errors": ["internal"]})
    client = clients(recorder.addr, token="t-123456", retries=2)
    with pytest.raises(VaultUnavailableError, match=r"after 3 attempts \(HTTP 500"):
        client.read("secret", "x")
    assert len(recorder.requests) == 3


def test_sealed_is_not_retried(recorder, clients):
    recorder.default = (503, {"errors": ["Vault is sealed"]})
    with pytest.raises(VaultSealedError, match="Vault is sealed"):
        clients(recorder.addr, token="t-123456").read("secret", "x")
    assert len(recorder.requests) == 1
    assert clients.sleeps == []


def test_a_write_is_not_retried_on_5xx(recorder, clients):
    recorder.default = (500, {"errors": ["internal"]})
    with pytest.raises(VaultRequestError, match="500"):
        clients(recorder.addr, token="t-123456").write("secret", "x", {"K": "v"})
    assert len(recorder.requests) == 1


def test_connection_refused_is_retried_then_unavailable(clients):
    client = clients("http://127.0.0.1:9", token="t-123456", retries=2, backoff_s=0.01)
    with pytest.raises(VaultUnavailableError, match="ConnectError"):
        client.read("secret", "x")
    assert clients.sleeps == [0.01, 0.02]


def test_not_a_kv2_answer(recorder, clients):
    recorder.default = (200, {"data": {"K": "v1-style"}})
    with pytest.raises(VaultRequestError, match="KV version 2"):
        clients(recorder.addr, token="t-123456").read("secret", "x")


def login_answer(token, lease=600):
    return (200, {"auth": {"client_token": token, "lease_duration": lease}})


def test_approle_logs_in_once_and_again_when_refused(recorder, clients):
    recorder.answers.extend([
        login_answer("login-token-one"), (200, kv_body({"K": "a"})),
        (403, {"errors": ["permission denied"]}), login_answer("login-token-two"),
        (200, kv_body({"K": "b"})),
    ])  # fmt: skip
    client = clients(recorder.addr, role_id="role", secret_id="secret-id-123", namespace="ns")
    assert client.read("secret", "x").data["K"] == "a"
    assert client.read("secret", "x").data["K"] == "b"
    login = recorder.requests[0]
    assert login[1] == "/v1/auth/approle/login"
    assert login[3] == {"role_id": "role", "secret_id": "secret-id-123"}
    assert login[2]["X-Vault-Namespace"] == "ns"
    assert "X-Vault-Token" not in login[2]
    tokens = [r[2].get("X-Vault-Token") for r in recorder.requests if "/data/" in r[1]]
    assert tokens == ["login-token-one", "login-token-one", "login-token-two"]


def test_approle_token_is_renewed_near_its_ttl(recorder, clients):
    now = [0.0]
    recorder.answers.extend([login_answer("first-token", lease=100), (200, kv_body({}))])
    client = clients(recorder.addr, role_id="r", secret_id="s-123456", clock=lambda: now[0])
    client.read("secret", "x")
    now[0] = 79.0
    client.read("secret", "x")
    now[0] = 81.0
    recorder.answers.extend([login_answer("second-token", lease=100)])
    client.read("secret", "x")
    logins = [r for r in recorder.requests if r[1].endswith("/login")]
    assert len(logins) == 2


def test_refused_login_is_an_auth_error(recorder, clients):
    recorder.default = (400, {"errors": ["invalid role or secret ID"]})
    with pytest.raises(VaultAuthError, match="invalid role or secret ID"):
        clients(recorder.addr, role_id="r", secret_id="s-123456").read("secret", "x")


@pytest.mark.parametrize(
    ("options", "match"),
    [({}, "needs a token"), ({"token": "t", "role_id": "r", "secret_id": "s"}, "not both"),
     ({"token": "t", "retries": -1}, "retries")],
)  # fmt: skip
def test_bad_options(options, match):
    with pytest.raises(ValueError, match=match):
        VaultClient("http://127.0.0.1:1", **options)


def test_repr_shows_no_credentials(clients):
    client = clients("http://127.0.0.1:1", token="repr-token-123")
    assert "repr-token-123" not in repr(client)
