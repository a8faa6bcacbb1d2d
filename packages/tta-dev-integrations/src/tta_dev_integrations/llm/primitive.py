"""``LLMPrimitive``: one catalog model as a workflow primitive, plain or streamed."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from time import perf_counter
from typing import Any

from tta_dev_integrations.llm.catalog import Catalog, ModelInfo, load_catalog
from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.metrics import LLMCallMetrics
from tta_dev_integrations.llm.pricing import cost_of
from tta_dev_integrations.llm.providers.base import Provider, Reply
from tta_dev_integrations.llm.providers.registry import create_provider
from tta_dev_integrations.llm.types import LLMRequest, LLMResponse, Usage
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive
from tta_dev_primitives.observability import active_tracer

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
    records a span with the OpenTelemetry GenAI attributes (prompts and completions
    only with ``record_content=True``) and the ``tta_llm_*`` metrics.
    """

    def __init__(
        self,
        model: str,
        *,
        catalog: Catalog | None = None,
        provider: Provider | None = None,
        record_content: bool = False,
        name: str | None = None,
    ) -> None:
        self.info: ModelInfo = (catalog or load_catalog())[model]
        self.provider = provider or shared_provider(self.info.provider)
        self.record_content = record_content
        self.name = name or f"chat {model}"
        self._llm_metrics = LLMCallMetrics(self.info.provider, self.info.alias)

    @property
    def model(self) -> str:
        """The catalog alias this primitive calls."""
        return self.info.alias

    async def _execute_impl(self, input_data: RequestLike, context: WorkflowContext) -> LLMResponse:
        request = LLMRequest.from_value(input_data)
        start = perf_counter()
        try:
            reply = await self.provider.complete(request, self.info.model_id)
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

    def _respond(self, request: LLMRequest, reply: Reply, latency: float) -> LLMResponse:
        usage = reply.usage or estimate_usage(request, reply.content)
        cost = cost_of(self.info, usage)
        metrics = self._llm_metrics
        metrics.outcome("success")
        metrics.duration.observe(latency)
        metrics.input.inc(usage.input_tokens)
        metrics.output.inc(usage.output_tokens)
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
            self._annotate_span(request, response)
        return response

    def _annotate_span(self, request: LLMRequest, response: LLMResponse) -> None:
        from opentelemetry import trace

        span = trace.get_current_span()
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": self.info.provider,
            "gen_ai.request.model": self.info.model_id,
            "gen_ai.response.model": response.provider_model,
            "gen_ai.usage.input_tokens": response.usage.input_tokens,
            "gen_ai.usage.output_tokens": response.usage.output_tokens,
            "tta.llm.model": self.info.alias,
            "tta.llm.cost_usd": response.cost_usd,
            "tta.llm.cost_estimated": response.cost_estimated,
        }
        if response.finish_reason:
            attributes["gen_ai.response.finish_reasons"] = [response.finish_reason]
        if request.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = request.max_tokens
        if request.temperature is not None:
            attributes["gen_ai.request.temperature"] = request.temperature
        if self.record_content:
            attributes["gen_ai.input.messages"] = json.dumps(
                [{"role": m.role, "content": m.text} for m in request.messages]
            )
            attributes["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "content": response.content}]
            )
        span.set_attributes(attributes)


class LLMStream:
    """A streamed answer: iterate for text deltas; ``response`` is set once it ends.

    The final :class:`LLMResponse` carries the usage and cost, exactly as a plain
    call's would. If the stream breaks off, ``StreamInterruptedError`` is raised with
    the text received so far, and nothing is billed for it.
    """

    def __init__(
        self, primitive: LLMPrimitive, request: LLMRequest, context: WorkflowContext
    ) -> None:
        self.primitive = primitive
        self.request = request
        self.context = context
        self.response: LLMResponse | None = None
        self.time_to_first_token_s: float | None = None

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
        with tracer.start_as_current_span(primitive.display_name):
            async for delta in self._deltas():
                yield delta

    async def _deltas(self) -> AsyncIterator[str]:
        primitive = self.primitive
        info = primitive.info
        start = perf_counter()
        parts: list[str] = []
        usage: Usage | None = None
        finish: str | None = None
        provider_model = ""
        try:
            async for piece in primitive.provider.stream(self.request, info.model_id):
                if piece.text:
                    if self.time_to_first_token_s is None:
                        self.time_to_first_token_s = perf_counter() - start
                        primitive._llm_metrics.first_token.observe(self.time_to_first_token_s)
                    parts.append(piece.text)
                    yield piece.text
                usage = piece.usage or usage
                finish = piece.finish_reason or finish
                provider_model = piece.provider_model or provider_model
        except LLMError as error:
            primitive._failed(error)
            raise
        reply = Reply(
            content="".join(parts),
            finish_reason=finish,
            usage=usage,
            provider_model=provider_model,
        )
        self.response = primitive._respond(self.request, reply, perf_counter() - start)
