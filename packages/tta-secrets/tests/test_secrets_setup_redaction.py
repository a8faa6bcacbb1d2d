"""``observability.setup()`` installs the redaction: a loaded secret that a workflow puts
into a span attribute, an event, an error and a log line reaches neither the span file
nor the log output, in any form."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

CANARY = "canary-9f8e7d6c5b4a3210-value"

SCRIPT = textwrap.dedent(
    """
    import asyncio, base64, logging, sys
    from urllib.parse import quote

    from opentelemetry import trace
    from tta_dev_primitives import LambdaPrimitive, WorkflowContext
    from tta_dev_primitives.observability import setup
    from tta_secrets import default_loader

    handle = setup(service_name="redaction-check", exporter="jsonl", jsonl_path=sys.argv[1],
                   log_format="json")
    value = default_loader().get("CANARY_API_KEY").get_secret_value()

    async def leaky(x):
        span = trace.get_current_span()
        span.set_attribute("request.url", "https://api.example/?key=" + quote(value, safe=""))
        span.add_event("auth", {"header": "Basic " + base64.b64encode(value.encode()).decode()})
        logging.getLogger("app").warning("calling upstream with %s", value)
        raise RuntimeError("upstream refused key " + value)

    try:
        asyncio.run(LambdaPrimitive(leaky, name="leaky").execute(1, WorkflowContext()))
    except RuntimeError:
        logging.getLogger("app").exception("the call failed")
    handle.shutdown()
    """
)


def test_setup_scrubs_a_loaded_secret_from_spans_and_logs(tmp_path: Path) -> None:
    spans = tmp_path / "spans.jsonl"
    env = {**os.environ, "CANARY_API_KEY": CANARY, "TTA_HOME": str(tmp_path)}
    env.pop("VAULT_ADDR", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(spans)],
        capture_output=True, text=True, env=env, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    written = spans.read_text(encoding="utf-8")
    from tta_dev_primitives.observability.otlp_json import read_span_line

    records = [span for line in written.splitlines() for span in read_span_line(line)]
    assert [r["name"] for r in records] == ["leaky"]
    assert records[0]["status"]["code"] == "ERROR"
    logs = result.stderr + result.stdout
    assert "calling upstream with" in logs
    assert "the call failed" in logs
    forms = [CANARY, quote(CANARY, safe=""), base64.b64encode(CANARY.encode()).decode()]
    for form in forms:
        assert form not in written, f"{form!r} reached the span file"
        assert form not in logs, f"{form!r} reached the logs"
    assert "[REDACTED]" in written
    assert "[REDACTED]" in logs
