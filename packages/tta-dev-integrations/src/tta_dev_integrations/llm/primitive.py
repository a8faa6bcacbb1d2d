"""``LLMPrimitive``: one catalog model as a workflow primitive, plain or streamed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from time import perf_counter
from typing import Any

from tta_dev_integrations.llm.catalog import Catalog, ModelInfo, load_catalog
from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.fleet import guarded_send
from tta_dev_integrations.llm.metrics import REQUESTS, LLMCallMetrics
from tta_dev_integrations.llm.pricing import cost_of
from tta_dev_integrations.llm.providers.base import Provider, Reply
from tta_dev_integrations.llm.providers.registry import create_provider
from tta_dev_integrations.llm.telemetry import (
    capture_content_enabled,
    client_span,
    input_messages,
    output_messages,
    request_attributes,
    usage_attributes,
)
from tta_dev_integrations.llm.types import LLMRequest, LLMResponse, ToolCall, Usage
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive
from tta_dev_primitives.observability import active_tracer, counter

__all__ = ["LLMPrimitive", "LLMStream", "RequestLike", "shared_provider"]

RequestLike = LLMRequest | Mapping[str, Any] | str

_shared: dict[str, Provider] = {}


def shared_provider(name: str) -> Provider:
    """The process-wide provider for ``name``: one pooled client per provider."""
    provider = _shared.get(name)
    if provider is None:
        provider = _shared[name] = create_provider(name)
    return provider


def estimate_usage(request: LLMRequest, text: str) -> Usage:
    """A rough count (about 4 characters a token) for providers that report none."""
    prompt = sum(len(m.text) for m in request.messages)
    return Usage(
        input_tokens=max(1, prompt // 4), output_tokens=max(1, len(text) // 4), estimated=True
    )


class LLMPrimitive(WorkflowPrimitive[RequestLike, LLMResponse]):
    """Calls one catalog model: ``await LLMPrimitive("gpt-4o").execute(request, ctx)``.

    The request may be an :class:`LLMRequest`, a dict with the same keys, or a prompt.
    It composes like any primitive (``>>``, ``|``, retry, fallback, cache). Each call
    records a span following the OpenTelemetry GenAI conventions (see
    :mod:`tta_dev_integrations.llm.telemetry`) and the ``tta_llm_*`` metrics. Prompts
    and answers are recorded only with ``record_content=True``, or, when it is left
    ``None``, with ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
    The span is named ``chat {model id}``; ``name=`` names it (and the metrics) instead.
    """

    def __init__(
        self,
        model: str,
        *,
        catalog: Catalog | None = None,
        provider: Provider | None = None,
        record_content: bool | None = None,
        name: str | None = None,
    ) -> None:
        self.info: ModelInfo = (catalog or load_catalog())[model]
        self.provider = provider or shared_provider(self.info.provider)
        self.record_content = (
            capture_content_enabled() if record_content is None else record_content
        )
        self.name = name or f"chat {model}"
        self._span = self._client_span = client_span(self.info, self.provider, name)
        self._llm_metrics = LLMCallMetrics(self.info.provider, self.info.alias)
        # Bound once like the other children: the label lookup is ~1 us of every call.
        self._succeeded = counter(REQUESTS).labels(self.info.provider, self.info.alias, "success")

    @property
    def model(self) -> str:
        """The catalog alias this primitive calls."""
        return self.info.alias

    async def _execute_impl(self, input_data: RequestLike, context: WorkflowContext) -> LLMResponse:
        request = LLMRequest.from_value(input_data)
        if active_tracer() is not None:
            self._annotate_request(request, stream=False)
        model_id = self.info.model_id
        start = perf_counter()
        try:
            # Within the fleet's limits and provider breaker when TTA_REDIS_URL is set.
            reply = await guarded_send(
                self.info, request, lambda: self.provider.complete(request, model_id), context
            )
        except LLMError as error:
            self._failed(error)
            raise
        return self._respond(request, reply, perf_counter() - start)

    def stream(self, input_data: RequestLike, context: WorkflowContext) -> LLMStream:
        """Stream the answer: ``async for text in stream``; then ``stream.response``."""
        return LLMStream(self, LLMRequest.from_value(input_data), context)

    def _failed(self, error: LLMError) -> None:
        error.model = error.model or self.info.alias
        self._llm_metrics.outcome(type(error).__name__)
        if active_tracer() is not None:
            from opentelemetry import trace

            # A finish reason was expected and none came: the conventions' "error".
            trace.get_current_span().set_attributes(
                {
                    "error.type": type(error).__qualname__,
                    "gen_ai.response.finish_reasons": ["error"],
                }
            )

    def _annotate_request(self, request: LLMRequest, *, stream: bool) -> None:
        from opentelemetry import trace

        span = trace.get_current_span()
        if not span.is_recording():
            return
        attributes = request_attributes(request, stream=stream)
        if self.record_content:
            attributes["gen_ai.input.messages"] = input_messages(request)
        span.set_attributes(attributes)

    def _respond(self, request: LLMRequest, reply: Reply, latency: float) -> LLMResponse:
        usage = reply.usage or estimate_usage(request, reply.content)
        cost = cost_of(self.info, usage)
        metrics = self._llm_metrics
        self._succeeded.inc()
        metrics.duration.observe(latency)
        # A count the provider got wrong comes as -1 (see providers.base.token_count).
        metrics.input.inc(max(0, usage.input_tokens))
        metrics.output.inc(max(0, usage.output_tokens))
        if cost.usd:
            metrics.cost.inc(cost.usd)
        response = LLMResponse(
            content=reply.content,
            model=self.info.alias,
            provider=self.info.provider,
            usage=usage,
            finish_reason=reply.finish_reason,
            tool_calls=reply.tool_calls,
            cost_usd=cost.usd,
            cost_estimated=cost.estimated or not cost.known,
            latency_s=latency,
            provider_model=reply.provider_model or self.info.model_id,
            raw=reply.raw,
        )
        if active_tracer() is not None:
            self._annotate_response(response, reply.response_id)
        return response

    def _annotate_response(self, response: LLMResponse, response_id: str) -> None:
        from opentelemetry import trace

        span = trace.get_current_span()
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {
            "gen_ai.response.model": response.provider_model,
            **usage_attributes(response.usage),
            "tta.llm.cost_usd": response.cost_usd,
            "tta.llm.cost_estimated": response.cost_estimated,
        }
        if response_id:
            attributes["gen_ai.response.id"] = response_id
        if response.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [response.finish_reason]
        if self.record_content:
            attributes["gen_ai.output.messages"] = output_messages(
                response.content, response.tool_calls, response.finish_reason
            )
        span.set_attributes(attributes)


class LLMStream:
    """A streamed answer: iterate for text deltas; ``response`` is set once it ends.

    The final :class:`LLMResponse` carries the usage and cost, exactly as a plain
    call's would. If the stream breaks off, ``StreamInterruptedError`` is raised with
    the text received so far. What a stream that ended early saw stays readable:
    ``answering`` (the provider started answering: it bills from there), ``usage_seen``
    (the latest usage it reported, e.g. Anthropic's input tokens at the start) and
    ``partial_text``; ``UniversalLLMPrimitive`` settles such a stream from them.
    """

    def __init__(
        self, primitive: LLMPrimitive, request: LLMRequest, context: WorkflowContext
    ) -> None:
        self.primitive = primitive
        self.request = request
        self.context = context
        self.response: LLMResponse | None = None
        self.time_to_first_token_s: float | None = None
        self.answering = False
        self.usage_seen: Usage | None = None
        self._parts: list[str] = []

    @property
    def partial_text(self) -> str:
        """The text received so far (all of it once the stream ended)."""
        return "".join(self._parts)

    def __aiter__(self) -> AsyncIterator[str]:
        return self._run()

    async def text(self) -> str:
        """Consume the stream and return the whole text."""
        return "".join([delta async for delta in self])

    async def _run(self) -> AsyncIterator[str]:
        primitive = self.primitive
        tracer = active_tracer()
        if tracer is None:
            async for delta in self._deltas():
                yield delta
            return
        from opentelemetry.trace import SpanKind

        client = primitive._span
        with tracer.start_as_current_span(
            client.name,
            kind=SpanKind.INTERNAL if client.internal else SpanKind.CLIENT,
            attributes=client.attributes,
        ) as span:
            primitive._annotate_request(self.request, stream=True)
            async for delta in self._deltas():
                yield delta
            if self.time_to_first_token_s is not None:
                span.set_attribute(
                    "gen_ai.response.time_to_first_chunk", self.time_to_first_token_s
                )

    async def _deltas(self) -> AsyncIterator[str]:
        primitive = self.primitive
        info = primitive.info
        start = perf_counter()
        parts = self._parts
        usage: Usage | None = None
        finish: str | None = None
        provider_model = ""
        response_id = ""
        calls: list[ToolCall] = []
        try:
            async for piece in primitive.provider.stream(self.request, info.model_id):
                # Noted before the text is handed out: the reader may stop at any yield.
                self.answering = True
                usage = self.usage_seen = piece.usage or usage
                finish = piece.finish_reason or finish
                provider_model = piece.provider_model or provider_model
                response_id = piece.response_id or response_id
                calls.extend(piece.tool_calls)
                if piece.text:
                    if self.time_to_first_token_s is None:
                        self.time_to_first_token_s = perf_counter() - start
                        primitive._llm_metrics.first_token.observe(self.time_to_first_token_s)
                    parts.append(piece.text)
                    yield piece.text
        except LLMError as error:
            primitive._failed(error)
            raise
        reply = Reply(
            content="".join(parts),
            finish_reason=finish,
            usage=usage,
            provider_model=provider_model,
            tool_calls=tuple(calls),
            response_id=response_id,
        )
        self.response = primitive._respond(self.request, reply, perf_counter() - start)
