"""A canary key, loaded from each source, never shows in logs, spans, errors or reprs.

The run provokes provider errors: an OpenAI-compatible provider is pointed at a
loopback server that answers 401 and echoes the Authorization header it got, and
the code around it logs and traces carelessly (the key raw, URL-encoded and in a
Basic header). Everything captured must be free of every form of the canary.
"""

import base64
import io
import json
import logging
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, quote_plus

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.keys import lookup_key, provider_key_status
from tta_dev_integrations.llm.providers.registry import create_provider
from tta_dev_integrations.llm.types import LLMRequest
from tta_secrets import (
    DotenvSource,
    EnvSource,
    SecretLoader,
    VaultSource,
    set_default_loader,
)
from tta_secrets.redaction import RedactingLogFilter, RedactingSpanProcessor


def canary_forms(value):
    raw = value.encode()
    b64 = base64.b64encode(raw).decode()
    return {
        "raw": value,
        "url": quote(value, safe=""),
        "url_plus": quote_plus(value),
        "base64": b64,
        "base64_core": b64[:-4],
        "base64_urlsafe": base64.urlsafe_b64encode(raw).decode(),
        "basic_core": base64.b64encode(f"u:{value}".encode()).decode()[4:-4],
    }


class EchoingServer:
    """Answers every POST with 401 and the Authorization header it received, OpenAI-style."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("content-length") or 0))
                auth = self.headers.get("authorization", "")
                body = json.dumps(
                    {"error": {"message": f"Incorrect API key provided: {auth}",
                               "type": "invalid_request_error", "code": "invalid_api_key"}}
                ).encode()  # fmt: skip
                self.send_response(401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def echo_server():
    server = EchoingServer()
    yield server
    server.close()


def build_loader(kind, canary, tmp_path, monkeypatch, request):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    dotenv_path = tmp_path / ".env"
    sources = [EnvSource()]
    if kind == "env":
        monkeypatch.setenv("OPENAI_API_KEY", canary)
    elif kind == "dotenv":
        dotenv_path.write_text(f"OPENAI_API_KEY={canary}\n")
    sources.append(DotenvSource(dotenv_path))
    if kind == "vault":
        server = request.getfixturevalue("openbao")
        path = f"canary-{secrets.token_hex(4)}"
        vault = VaultSource(server.addr, token=server.token, path=path)
        vault.write({"OPENAI_API_KEY": canary})
        sources.append(vault)
    return SecretLoader(sources)


@pytest.mark.parametrize(
    "kind", ["env", "dotenv", pytest.param("vault", marks=pytest.mark.needs("openbao"))]
)
async def test_canary_never_leaks(kind, tmp_path, monkeypatch, request, echo_server):
    canary = "cnry-" + secrets.token_urlsafe(24)
    loader = build_loader(kind, canary, tmp_path, monkeypatch, request)
    set_default_loader(loader)  # closed by the autouse fixture's reset

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactingLogFilter())
    logger = logging.getLogger(f"tta.canary.{kind}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(RedactingSpanProcessor(SimpleSpanProcessor(exporter)))
    tracer = tracer_provider.get_tracer("canary")

    found = lookup_key(["OPENAI_API_KEY"])
    assert found is not None
    assert found.value == canary
    assert found.source.startswith({"env": "env:", "dotenv": "dotenv:", "vault": "vault:"}[kind])

    provider = create_provider("openai", base_url=echo_server.url)
    texts = []
    try:
        with tracer.start_as_current_span("llm call") as span:
            forms = canary_forms(canary)
            span.set_attribute("http.request.header.authorization", f"Bearer {canary}")
            span.set_attribute("debug.url", f"https://x.test/v1?key={forms['url']}")
            span.set_attribute(
                "debug.basic", "Basic " + base64.b64encode(f"u:{canary}".encode()).decode()
            )
            logger.debug("calling with key=%s url=%s", canary, f"?key={forms['url_plus']}")
            logger.debug("basic auth %s", base64.b64encode(f"u:{canary}".encode()).decode())
            try:
                await provider.complete(LLMRequest.from_value("hi"), "gpt-4o-mini")
            except LLMError as error:
                texts += [str(error), repr(error), str(error.args)]
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{error} (key {canary})"))
                logger.exception("provider failed: %s", error)
                try:
                    raise RuntimeError(f"wrapped: key={forms['base64']}") from error
                except RuntimeError:
                    logger.exception("wrapped failure")
            else:
                pytest.fail("the loopback server answers 401; the call cannot succeed")
    finally:
        await provider.aclose()

    statuses = provider_key_status(loader)
    texts += [repr(loader), repr(found), repr(provider), repr(statuses), repr(loader.sources)]
    texts.append(stream.getvalue())
    texts += [span.to_json() for span in exporter.get_finished_spans()]
    captured = "\n".join(texts)

    assert "Incorrect API key provided" in captured  # the provider error was captured
    assert "[REDACTED]" in stream.getvalue()
    assert exporter.get_finished_spans()
    for form_name, form in canary_forms(canary).items():
        assert form not in captured, f"the {form_name} form of the {kind} canary leaked"
    openai = next(s for s in statuses if s.name == "openai")
    assert openai.configured
    assert openai.source == found.source
