import base64
import io
import logging
from urllib.parse import quote, quote_plus

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

from tta_secrets import redaction
from tta_secrets.redaction import (
    MIN_FRAGMENT,
    MIN_SECRET_LENGTH,
    REDACTED,
    RedactingLogFilter,
    RedactingSpanProcessor,
    contains_secret,
    register_secret,
    scrub,
    url_without_credentials,
)
from tta_secrets.secret import Secret

CANARY = "canary/Secret+value=42&x?"


def forms(value: str) -> list[str]:
    raw = value.encode()
    return [
        value,
        quote(value, safe=""),
        quote_plus(value),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    ]


def basic_auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def test_nothing_registered_returns_the_same_object():
    text = "nothing to hide " + CANARY
    assert scrub(text) is text
    assert not contains_secret(text)


@pytest.mark.parametrize("index", range(5))
def test_each_encoded_form_is_scrubbed(index):
    register_secret(CANARY)
    form = forms(CANARY)[index]
    scrubbed = scrub(f"before {form} after")
    assert REDACTED in scrubbed
    for each in forms(CANARY):
        assert each not in scrubbed


@pytest.mark.parametrize("user", ["a", "ab", "abc", "user", "admin1"])
def test_base64_inside_a_longer_string_is_scrubbed_at_every_alignment(user):
    register_secret(CANARY)
    header = f"Authorization: Basic {basic_auth(user, CANARY)}"
    scrubbed = scrub(header)
    assert REDACTED in scrubbed
    # Only the few characters mixing the user name's or the end's bits are left.
    leftover = scrubbed.split("Basic ", 1)[1].replace(REDACTED, "")
    assert len(leftover) <= len(basic_auth(user, "")) + 4


def test_short_values_are_not_scrubbed():
    register_secret("x" * (MIN_SECRET_LENGTH - 1))
    assert redaction.registered_count() == 0
    assert scrub("xxxxx is fine") == "xxxxx is fine"


def test_a_secret_object_registers_its_value():
    register_secret(Secret(CANARY))
    assert scrub(CANARY) == REDACTED


def test_longer_values_win_over_values_they_contain():
    register_secret("abcdef")
    register_secret("abcdef-ghijkl")
    assert scrub("abcdef-ghijkl") == REDACTED


def make_logger(name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s|%(leak)s"))
    handler.addFilter(RedactingLogFilter())
    logger = logging.getLogger(name)
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_log_filter_scrubs_message_args_extras_and_tracebacks():
    register_secret(CANARY)
    logger, stream = make_logger("tta.test.redaction")
    logger.info(f"inline {CANARY}", extra={"leak": quote(CANARY, safe="")})
    logger.info("arg %s and %r", CANARY, {"k": CANARY}, extra={"leak": "-"})
    try:
        raise RuntimeError(f"failed with {base64.b64encode(CANARY.encode()).decode()}")
    except RuntimeError:
        logger.exception("boom %s", "x", extra={"leak": "-"}, stack_info=True)
    output = stream.getvalue()
    for form in forms(CANARY):
        assert form not in output
    assert output.count(REDACTED) >= 4
    assert "RuntimeError" in output  # the traceback is still there, scrubbed


def test_log_filter_keeps_records_and_args_when_nothing_to_hide():
    register_secret(CANARY)
    record = logging.LogRecord("n", logging.INFO, "f", 1, "count %d", (3,), None)
    assert RedactingLogFilter().filter(record) is True
    assert record.args == (3,)
    assert record.getMessage() == "count 3"


def test_log_filter_survives_bad_arguments():
    register_secret(CANARY)
    record = logging.LogRecord("n", logging.INFO, "f", 1, "%d " + CANARY, ("x",), None)
    RedactingLogFilter().filter(record)
    assert CANARY not in str(record.msg)


def spans_through_processor():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(RedactingSpanProcessor(SimpleSpanProcessor(exporter)))
    return provider, exporter


def test_span_processor_scrubs_name_attributes_events_links_and_status():
    register_secret(CANARY)
    provider, exporter = spans_through_processor()
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(f"call {CANARY}") as span:
        span.set_attribute("http.request.header.authorization", f"Bearer {CANARY}")
        span.set_attribute("encoded", [quote_plus(CANARY), "fine"])
        span.set_attribute("count", 3)
        span.add_event(f"event {CANARY}", {"b64": base64.b64encode(CANARY.encode()).decode()})
        try:
            raise ValueError(f"bad key {CANARY}")
        except ValueError as error:
            span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"denied {CANARY}"))
    (exported,) = exporter.get_finished_spans()
    dumped = exported.to_json()
    for form in forms(CANARY):
        assert form not in dumped
    assert exported.attributes["count"] == 3
    assert exported.attributes["encoded"][1] == "fine"
    assert exported.status.status_code is StatusCode.ERROR
    assert exported.context.span_id == span.get_span_context().span_id
    assert REDACTED in exported.name


def test_span_processor_passes_clean_spans_unchanged():
    register_secret(CANARY)
    provider, exporter = spans_through_processor()
    with provider.get_tracer("test").start_as_current_span("clean") as span:
        span.set_attribute("a", "b")
    (exported,) = exporter.get_finished_spans()
    assert exported.name == "clean"
    assert dict(exported.attributes) == {"a": "b"}
    assert exported.context.span_id == span.get_span_context().span_id


def test_span_processor_forwards_flush_and_shutdown():
    provider, exporter = spans_through_processor()
    assert provider.force_flush()
    provider.shutdown()
    with provider.get_tracer("test").start_as_current_span("after shutdown"):
        pass
    assert exporter.get_finished_spans() == ()


# --- fragments: text cut before it was scrubbed ---------------------------------------

KEY = "sk-proj-Zx9!Qm2#Lp7~Vb4^Nc8&Hd3(Kf6)Tw1=Ry5"


def test_every_prefix_and_suffix_of_eight_or_more_is_scrubbed():
    register_secret(KEY)
    for cut in range(MIN_FRAGMENT, len(KEY)):
        for fragment in (KEY[:cut], KEY[-cut:]):
            scrubbed = scrub(f"<p>Authorization: Bearer {fragment}</p>")
            assert fragment not in scrubbed
            assert scrubbed.count(REDACTED) == 1, scrubbed


def test_url_encoded_fragments_and_hex_are_scrubbed():
    register_secret(KEY)
    encoded = quote(KEY, safe="")
    assert encoded[:20] not in scrub(f"?key={encoded[:20]}")
    for hexed in (KEY.encode().hex(), KEY.encode().hex().upper()):
        assert scrub(f"dump {hexed} end") == f"dump {REDACTED} end"


def test_a_fragment_grows_to_all_that_agrees_with_the_value():
    register_secret(KEY)
    # The text agrees with the key for 30 characters, then differs.
    text = "id=" + KEY[:30] + "DIFFERENT"
    assert scrub(text) == f"id={REDACTED}DIFFERENT"


def test_only_the_password_of_a_url_is_matched_in_fragments():
    register_secret("postgresql://app:Vx7-long-Password-42@db.internal:5432/prod")
    assert scrub("connecting to postgresql://other@host/db") == (
        "connecting to postgresql://other@host/db"
    )
    assert scrub("password 'Vx7-long-Pass...' refused") == f"password '{REDACTED}...' refused"


def test_values_with_spaces_are_matched_whole_only():
    register_secret("correct horse battery staple")
    assert scrub("correct horse is fine") == "correct horse is fine"
    assert scrub("correct horse battery staple") == REDACTED


def test_fragments_are_found_by_contains_secret_too():
    register_secret(KEY)
    assert contains_secret("trace: " + KEY[:12])
    assert not contains_secret("trace: " + KEY[:7])


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@host/jwks.json", "https://host/jwks.json"),
        ("http://user:p%40w@127.0.0.1:8200", "http://127.0.0.1:8200"),
        ("https://tok@host?x=a@b", "https://host?x=a@b"),
        ("https://host/a@b", "https://host/a@b"),
        ("not a url", "not a url"),
    ],
)
def test_url_without_credentials(url, shown):
    assert url_without_credentials(url) == shown


def test_vault_reprs_and_errors_show_no_credentials_of_the_address():
    from tta_secrets import VaultSource, VaultUnavailableError

    source = VaultSource(
        addr="http://admin:s3cret-pass@127.0.0.1:9", token="vault-token-0123456789", retries=0
    )
    shown = [repr(source), repr(source.client)]
    with pytest.raises(VaultUnavailableError) as caught:
        source.lookup("OPENAI_API_KEY")
    shown += [str(caught.value), repr(caught.value)]
    source.close()
    for text in shown:
        assert "s3cret-pass" not in text
        assert "admin" not in text
    assert "127.0.0.1:9" in shown[0]
