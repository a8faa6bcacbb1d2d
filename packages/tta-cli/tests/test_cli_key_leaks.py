"""The CLI shows no key: ``tta ask`` (with and without ``--debug``) and ``tta traces``.

A loopback server stands in for OpenRouter and echoes the key it receives, in a JSON
error and in a text page that the provider cuts at 500 characters in the middle of
the key. Everything the commands print, the span file and the HTML timeline are then
searched for the key raw, URL-encoded, base64, hex and any 12-character fragment.
With Vault sealed, ``tta ask`` names the key store as the cause in its one line.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest

KEY = "sk-or-v1-Zx9Qm2Lp7Vb4!Nc8Hd3Kf6Tw1Ry5aB0cD~eF2gH4"  # tta: ignore[TTA008] a canary
VAULT_TOKEN = "hvs.cli-canary-token-0123456789"


def leaked_forms(key: str, text: str) -> list[str]:
    """The names of the forms of ``key`` found in ``text`` (empty: nothing leaked)."""
    raw = key.encode()
    forms = {
        "raw": key,
        "url": quote(key, safe=""),
        "url-plus": quote_plus(key),
        "base64": base64.b64encode(raw).decode().rstrip("="),
        "basic-core": base64.b64encode(b"u:" + raw).decode()[4:-4],
        "hex": raw.hex(),
    }
    found = [name for name, form in forms.items() if form in text]
    return found + [key[i : i + 12] for i in range(len(key) - 11) if key[i : i + 12] in text]


class Echo:
    """Answers every request with ``answer(authorization header)``: (status, type, body)."""

    def __init__(self, answer: Callable[[str], tuple[int, str, bytes]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                status, content_type, body = answer(self.headers.get("authorization", ""))
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def json_echo(authorization: str) -> tuple[int, str, bytes]:
    raw = KEY.encode()
    message = (
        f"Incorrect API key provided: {authorization}; url={quote(KEY, safe='')} "
        f"b64={base64.b64encode(raw).decode()} hex={raw.hex()}"
    )
    return 401, "application/json", json.dumps({"error": {"message": message}}).encode()


def cut_page(authorization: str) -> tuple[int, str, bytes]:
    # Character 500 falls 20 characters into the key.
    page = "<html><body><p>" + "x" * (500 - 15 - 20) + KEY + " refused</p></body></html>"
    return 401, "text/html", page.encode()


@pytest.fixture(params=[json_echo, cut_page], ids=["json", "text-cut-at-500"])
def echo(request: pytest.FixtureRequest) -> Iterator[Echo]:
    server = Echo(request.param)
    yield server
    server.close()


def test_ask_and_traces_show_no_key(echo: Echo, tmp_path: Path, tta: Any) -> None:
    env = {
        "TTA_HOME": str(tmp_path / "home"),
        "TTA_SECRETS_ORDER": "env",
        "OPENROUTER_API_KEY": KEY,
        "OPENROUTER_BASE_URL": f"{echo.url}/api/v1",
        "OTEL_TRACES_EXPORTER": "jsonl",
        "COLUMNS": "200",
    }
    outputs = []
    for args in (["ask", "hi", "--model", "kimi"], ["--debug", "ask", "hi", "--model", "kimi"]):
        result = tta(*args, env=env)
        assert result.returncode == 1, result.stderr
        outputs += [result.stdout, result.stderr]
    assert "refused the credentials" in outputs[1]
    html = tmp_path / "timeline.html"
    for args in (["traces"], ["traces", "--json"], ["traces", "--html", str(html)]):
        result = tta(*args, env=env)
        assert result.returncode == 0, result.stderr
        outputs += [result.stdout, result.stderr]
    spans = sorted((tmp_path / "home" / "traces").glob("spans.jsonl*"))
    assert spans, "tta ask wrote no span file"
    outputs += [path.read_text() for path in spans]
    outputs.append(html.read_text())
    assert "openrouter" in "".join(outputs[4:])  # the traces show the failed call
    for text in outputs:
        assert leaked_forms(KEY, text) == [], text[:2000]


def test_ask_with_vault_sealed_names_the_key_store(tmp_path: Path, tta: Any) -> None:
    sealed = Echo(lambda _: (503, "application/json", b'{"errors":["Vault is sealed"]}'))
    try:
        result = tta(
            "ask",
            "hi",
            "--model",
            "kimi",
            env={
                "TTA_HOME": str(tmp_path / "home"),
                "TTA_SECRETS_ORDER": "vault",
                "VAULT_ADDR": sealed.url,
                "VAULT_TOKEN": VAULT_TOKEN,
                "OTEL_TRACES_EXPORTER": "none",
            },
        )
    finally:
        sealed.close()
    assert result.returncode == 1
    error = result.stderr.splitlines()[-1]  # the error is one line (warnings come before)
    assert error.startswith("tta: error: no model could be used because the key store failed")
    assert "vault:secret/tta" in error
    assert "sealed" in error
    assert "not available" not in result.stderr
    assert VAULT_TOKEN not in result.stderr + result.stdout
