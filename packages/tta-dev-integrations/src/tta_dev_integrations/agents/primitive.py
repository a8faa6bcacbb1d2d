"""``AgentPrimitive``: the tool-using loop as one primitive, limited, traced and measured.

Model -> tool calls (run side by side when the model asks for several) -> results ->
model, until a final answer. Every model call goes through the given ``LLMPrimitive``
or ``UniversalLLMPrimitive``, so routing, budget, spans and metrics come with it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

import pydantic_core

from tta_dev_integrations.agents.errors import (
    AgentModelError,
    AgentRunError,
    AgentTimeoutError,
    ApprovalRequired,
    MaxStepsError,
    MaxToolCallsError,
    OutputValidationError,
    SpendLimitError,
    ToolDefinitionError,
)
from tta_dev_integrations.agents.output import FINAL_RESULT_TOOL, OutputSpec
from tta_dev_integrations.agents.spend import RunCap, SpendRefused
from tta_dev_integrations.agents.state import AgentState, message_from_dict
from tta_dev_integrations.agents.telemetry import AgentMetrics, step_span, tool_span
from tta_dev_integrations.agents.tools import AgentTool, ToolArgumentsError, tool
from tta_dev_integrations.llm.errors import LLMError
from tta_dev_integrations.llm.spend import CostCapError
from tta_dev_integrations.llm.types import LLMResponse, Message, ToolCall
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive
from tta_secrets.redaction import scrub

__all__ = ["AgentInput", "AgentPrimitive", "AgentResult", "Approver"]

T = TypeVar("T")

AgentInput = str | Sequence[Message | Mapping[str, Any]] | AgentState
"""A prompt, a conversation to continue, or the state of a paused run to resume."""

Approver = Callable[[ToolCall, WorkflowContext], Awaitable[bool | str]]
"""Decides a call of a tool that needs approval: ``True`` runs it; ``False`` or a
reason (a string) refuses it, and the model is told so."""


@dataclass(frozen=True, slots=True)
class AgentResult(Generic[T]):
    """A run's answer, with the conversation that led to it.

    ``messages`` can be passed back to the agent to continue the conversation.
    ``responses`` are the model calls' answers (each with its cost and, from
    ``UniversalLLMPrimitive``, its routing decision and justification).
    """

    output: T
    messages: tuple[Message, ...]
    steps: int
    tool_calls: int
    cost_usd: float
    responses: tuple[LLMResponse, ...] = ()


class AgentPrimitive(WorkflowPrimitive[AgentInput, AgentResult[T]], Generic[T]):
    """A tool-using agent over any LLM primitive.

    ``tools`` are :class:`AgentTool` objects or plain functions (made tools with
    :func:`tool`). ``output_type`` (``str`` by default) is what the run returns,
    validated; a typed answer that fails validation goes back to the model at most
    ``max_output_retries`` times. Limits per run (per call of ``execute``):
    ``max_steps`` model calls, ``max_tool_calls`` tool calls, ``timeout_s`` seconds
    and ``max_cost_usd`` dollars; a run that reaches one raises the matching
    :class:`~tta_dev_integrations.agents.errors.AgentLimitError` with the transcript
    and the spend so far. A tool call that raises, times out (``tool_timeout_s``
    unless the tool sets its own), returns something JSON cannot hold, names no tool
    of the agent or sends arguments that do not validate is answered with a result
    that says so, and the run goes on.

    Tools marked ``needs_approval`` are decided by ``approve`` when given; without it
    the run pauses: :class:`~tta_dev_integrations.agents.errors.ApprovalRequired`
    carries a serialisable state; decide on it, then ``execute(state, context)``.
    ``request`` adds keys to every model request (``complexity``, ``justification``,
    ``temperature``...); ``max_tokens`` caps each answer. ``tool_choice="required"``
    makes the model call a tool at every step, the answer included (through
    ``final_result``, offered from the second step on): small models, which otherwise
    answer before looking, then use their tools, and the local model's grammar
    admits nothing else. A model that repeats a call (answered from the first result,
    not run again) is then offered ``final_result`` alone for its next step.
    """

    def __init__(
        self,
        llm: WorkflowPrimitive[Any, LLMResponse],
        *,
        tools: Sequence[AgentTool | Callable[..., Any]] = (),
        instructions: str = "",
        output_type: type[T] | Any = str,
        name: str = "agent",
        max_steps: int = 10,
        max_tool_calls: int = 25,
        timeout_s: float | None = None,
        max_cost_usd: float | None = None,
        tool_timeout_s: float = 30.0,
        max_output_retries: int = 2,
        max_tokens: int | None = None,
        approve: Approver | None = None,
        request: Mapping[str, Any] | None = None,
        tool_choice: Literal["auto", "required"] = "auto",
    ) -> None:
        for label, value in (("max_steps", max_steps), ("max_tool_calls", max_tool_calls)):
            if value < 1:
                raise ValueError(f"{label} must be at least 1, got {value}")
        if max_output_retries < 0:
            raise ValueError(f"max_output_retries must be >= 0, got {max_output_retries}")
        if timeout_s is not None and not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0 seconds, got {timeout_s!r}")
        self.llm = llm
        self.name = name
        self.tools: dict[str, AgentTool] = {}
        for item in tools:
            made = item if isinstance(item, AgentTool) else tool(item)
            if made.name in self.tools or made.name == FINAL_RESULT_TOOL:
                raise ToolDefinitionError(f"two tools are named {made.name!r}; rename one")
            self.tools[made.name] = made
        if tool_choice not in ("auto", "required"):
            raise ValueError(f'tool_choice must be "auto" or "required", got {tool_choice!r}')
        self.output = OutputSpec.of(output_type, as_tool=tool_choice == "required")
        self.instructions = "\n\n".join(p for p in (instructions, self.output.instruction) if p)
        self.max_steps = max_steps
        self.max_tool_calls = max_tool_calls
        self.timeout_s = timeout_s
        self.cap = RunCap(llm, max_cost_usd)
        self.tool_timeout_s = tool_timeout_s
        self.max_output_retries = max_output_retries
        self.max_tokens = max_tokens
        self.approve = approve
        self.request_options = dict(request or {})
        if tool_choice == "required":
            self.request_options["tool_choice"] = "required"
        definitions = [t.definition for t in self.tools.values()]
        # With tools required, the first step may not answer at once: look, then answer.
        self._first_definitions = tuple(definitions) if tool_choice == "required" else None
        if self.output.tool is not None:
            definitions.append(self.output.tool)
        self._definitions = tuple(definitions)
        self._agent_metrics = AgentMetrics(name)

    async def _execute_impl(
        self, input_data: AgentInput, context: WorkflowContext
    ) -> AgentResult[T]:
        state = input_data if isinstance(input_data, AgentState) else self._start(input_data)
        metrics = self._agent_metrics
        try:
            if self.timeout_s is None:
                result = await self._drive(state, context)
            else:
                result = await self._drive_within(state, context, self.timeout_s)
        except ApprovalRequired:
            metrics.run("paused")
            raise
        except AgentRunError as error:
            metrics.run(type(error).__name__)
            raise
        metrics.run("answer")
        return result

    def _start(self, input_data: str | Sequence[Message | Mapping[str, Any]]) -> AgentState:
        if isinstance(input_data, str):
            messages = [Message("user", input_data)]
        else:
            messages = [m if isinstance(m, Message) else message_from_dict(m) for m in input_data]
        if self.instructions and not any(m.role == "system" for m in messages):
            messages.insert(0, Message("system", self.instructions))
        return AgentState(messages=messages)

    async def _drive_within(
        self, state: AgentState, context: WorkflowContext, seconds: float
    ) -> AgentResult[T]:
        try:
            async with asyncio.timeout(seconds) as scope:
                return await self._drive(state, context)
        except TimeoutError:
            if not scope.expired():
                raise
            raise AgentTimeoutError(
                f"agent {self.name!r} did not answer within {seconds} s (timeout_s); "
                f"{state.steps} step(s) made",
                state,
            ) from None

    async def _drive(self, state: AgentState, context: WorkflowContext) -> AgentResult[T]:
        responses: list[LLMResponse] = []
        if state.pending:
            await self._settle_pending(state, context)
        while True:
            if state.steps >= self.max_steps:
                raise MaxStepsError(
                    f"agent {self.name!r} made {state.steps} model calls without a final "
                    "answer (max_steps); raise max_steps or simplify the task",
                    state,
                )
            with step_span(self.name, state.steps + 1):
                response = await self._model_step(state, context)
                responses.append(response)
                calls = self._with_ids(response.tool_calls, state)
                state.messages.append(Message("assistant", response.content, calls))
                if calls:
                    answer = await self._tool_step(calls, state, context)
                    if answer is not None:
                        return self._result(answer[0], state, responses)
                    continue
                try:
                    output = self.output.from_text(response.content)
                except ValueError as problem:
                    self._retry_output(state, str(problem))
                    state.messages.append(Message("user", f"{problem}. Answer again."))
                    continue
                return self._result(output, state, responses)

    async def _model_step(self, state: AgentState, context: WorkflowContext) -> LLMResponse:
        request: dict[str, Any] = {
            **self.request_options,
            "messages": list(state.messages),
            "tools": self._definitions,
        }
        if self._first_definitions and state.tool_calls == 0:
            request["tools"] = self._first_definitions
        elif state.answer_now and self._first_definitions is not None and self.output.tool:
            request["tools"] = (self.output.tool,)  # it repeated itself: time to answer
        state.answer_now = False
        if self.max_tokens is not None:
            request["max_tokens"] = self.max_tokens
        try:
            request = self.cap.shape(request, state.spent_usd)
            response = await self.llm.execute(request, context)
        except SpendRefused as refused:
            raise self._spend_error(str(refused), state) from None
        except CostCapError as error:
            raise self._spend_error(error.message, state) from error
        except LLMError as error:
            raise AgentModelError(
                f"agent {self.name!r}: the model call of step {state.steps + 1} failed: {error}",
                state,
            ) from error
        state.steps += 1
        state.spent_usd += response.cost_usd
        self._agent_metrics.steps.inc()
        if response.cost_usd:
            self._agent_metrics.cost.inc(response.cost_usd)
        try:
            self.cap.check_after(state.spent_usd)
        except SpendRefused as refused:
            raise self._spend_error(str(refused), state) from None
        return response

    def _spend_error(self, why: str, state: AgentState) -> SpendLimitError:
        return SpendLimitError(
            f"agent {self.name!r} stops at its spending limit of ${self.cap.max_cost_usd} "
            f"a run (max_cost_usd): {why}; spent ${state.spent_usd:.6f} in {state.steps} "
            "step(s). Raise max_cost_usd, lower max_tokens, or use a cheaper model",
            state,
        )

    def _with_ids(self, calls: tuple[ToolCall, ...], state: AgentState) -> tuple[ToolCall, ...]:
        """The calls with ids unique in the run (some models give none, or repeat them)."""
        seen = {c.id for m in state.messages for c in m.tool_calls}
        out = []
        for index, given in enumerate(calls):
            call = given
            if not call.id or call.id in seen:
                call = ToolCall(
                    f"call_{state.steps}_{index}", call.name, call.arguments, call.provider_data
                )
            seen.add(call.id)
            out.append(call)
        return tuple(out)

    async def _tool_step(
        self, calls: tuple[ToolCall, ...], state: AgentState, context: WorkflowContext
    ) -> tuple[Any] | None:
        """Run the calls of one answer; the final answer (in a 1-tuple) if one was given."""
        if state.tool_calls + len(calls) > self.max_tool_calls:
            raise MaxToolCallsError(
                f"agent {self.name!r} was asked for {len(calls)} more tool call(s) after "
                f"{state.tool_calls}, beyond max_tool_calls={self.max_tool_calls}",
                state,
            )
        state.tool_calls += len(calls)
        final = [c for c in calls if c.name == FINAL_RESULT_TOOL and self.output.tool]
        if final:
            return self._final_call(final[0], calls, state)
        now: list[ToolCall] = []
        held: list[ToolCall] = []
        for call in calls:
            wanted = self.tools.get(call.name)
            (held if wanted is not None and wanted.needs_approval else now).append(call)
        if held and self.approve is not None:
            for call in held:
                decision = await self.approve(call, context)
                if decision is True:
                    now.append(call)
                else:
                    state.pending.append(call)
                    state.decisions[call.id] = (
                        decision if isinstance(decision, str) else "a person refused this call"
                    )
            held = []
        by_id = self._repeated(now, state)
        now = [c for c in now if c.id not in by_id]
        results = await asyncio.gather(*(self._run_tool(c, context) for c in now))
        by_id.update(zip((c.id for c in now), results, strict=True))
        for call in calls:
            if call.id in by_id:
                state.messages.append(Message("tool", by_id[call.id], tool_call_id=call.id))
        if held:
            state.pending.extend(held)
            raise ApprovalRequired(
                f"agent {self.name!r} is waiting for approval of "
                + ", ".join(f"{c.name} ({c.id})" for c in held),
                state,
            )
        if state.pending:
            await self._settle_pending(state, context)
        return None

    def _repeated(self, calls: list[ToolCall], state: AgentState) -> dict[str, str]:
        """Answers for calls the run already made with the same arguments: not run again.

        Small models loop on one call; the earlier result, shown again with a nudge,
        breaks the loop without running (or paying for) the tool twice.
        """
        if not calls:
            return {}
        results = {m.tool_call_id: m.text for m in state.messages if m.role == "tool"}
        earlier: dict[tuple[str, str], str] = {}
        for message in state.messages:
            for made in message.tool_calls:
                if made.id in results:  # the first result, not a repeat's answer
                    earlier.setdefault((made.name, _key(made.arguments)), results[made.id])
        answers = {}
        for call in calls:
            previous = earlier.get((call.name, _key(call.arguments)))
            if previous is not None:
                answers[call.id] = (
                    f"error: {call.name} was already called with these arguments; its "
                    f"result was: {previous}\nUse it: call another tool, or give the answer."
                )
                self._agent_metrics.tool_call(call.name, "repeated")
                state.answer_now = True
        return answers

    async def _settle_pending(self, state: AgentState, context: WorkflowContext) -> None:
        """Run approved pending calls, answer refused ones; pause again if any is undecided."""
        if state.undecided:
            raise ApprovalRequired(
                f"agent {self.name!r} is still waiting for approval of "
                + ", ".join(f"{c.name} ({c.id})" for c in state.undecided),
                state,
            )
        approved = [c for c in state.pending if state.decisions[c.id] is None]
        results = await asyncio.gather(*(self._run_tool(c, context) for c in approved))
        ran = dict(zip((c.id for c in approved), results, strict=True))
        for call in state.pending:
            reason = state.decisions[call.id]
            if reason is not None:
                self._agent_metrics.tool_call(call.name, "refused")
            text = ran[call.id] if reason is None else f"error: not run: {reason}"
            state.messages.append(Message("tool", text, tool_call_id=call.id))
        state.pending.clear()
        state.decisions.clear()

    def _final_call(
        self, final: ToolCall, calls: tuple[ToolCall, ...], state: AgentState
    ) -> tuple[Any] | None:
        try:
            output = self.output.from_arguments(final.arguments)
        except ValueError as problem:
            self._retry_output(state, str(problem))
            feedback = f"error: {problem}. Call {FINAL_RESULT_TOOL} again with a valid answer."
            accepted = False
        else:
            feedback, accepted = "the final answer was accepted", True
        for call in calls:
            text = feedback if call is final else "error: not run: the final answer came with it"
            state.messages.append(Message("tool", text, tool_call_id=call.id))
        return (output,) if accepted else None

    def _retry_output(self, state: AgentState, problem: str) -> None:
        state.output_retries += 1
        if state.output_retries > self.max_output_retries:
            raise OutputValidationError(
                f"agent {self.name!r}: the answer still does not validate after "
                f"{self.max_output_retries} retries (max_output_retries): {problem}",
                state,
            )

    async def _run_tool(self, call: ToolCall, context: WorkflowContext) -> str:
        with tool_span(self.name, call) as span:
            text, outcome = await self._tool_result(call, context)
            if span is not None:
                span.set_attribute("tta.outcome", outcome)
        self._agent_metrics.tool_call(call.name if call.name in self.tools else "unknown", outcome)
        return text

    async def _tool_result(self, call: ToolCall, context: WorkflowContext) -> tuple[str, str]:
        wanted = self.tools.get(call.name)
        if wanted is None:
            known = ", ".join(sorted(self.tools)) or "none"
            return f"error: there is no tool {call.name!r}; the tools are: {known}", "unknown_tool"
        try:
            arguments = wanted.validate(call.arguments)
        except ToolArgumentsError as problem:
            return f"error: {problem}", "invalid_arguments"
        seconds = wanted.timeout_s if wanted.timeout_s is not None else self.tool_timeout_s
        try:
            async with asyncio.timeout(seconds) as scope:
                value = await wanted.invoke(arguments, context)
        except TimeoutError:
            if not scope.expired():
                raise
            return f"error: {call.name} did not finish within {seconds} s", "timeout"
        except Exception as error:  # a tool's failure is a result for the model
            return (
                f"error: {call.name} failed: {type(error).__name__}: {scrub(str(error))}",
                "error",
            )
        if isinstance(value, str):
            return value, "success"
        try:
            return pydantic_core.to_json(value).decode(), "success"
        except pydantic_core.PydanticSerializationError:
            return (
                f"error: {call.name} returned a {type(value).__name__}, which cannot be "
                "turned into JSON",
                "unserialisable",
            )

    def _result(
        self, output: Any, state: AgentState, responses: list[LLMResponse]
    ) -> AgentResult[T]:
        return AgentResult(
            output=output,
            messages=tuple(state.messages),
            steps=state.steps,
            tool_calls=state.tool_calls,
            cost_usd=state.spent_usd,
            responses=tuple(responses),
        )


def _key(arguments: Mapping[str, Any]) -> str:
    return json.dumps(arguments, sort_keys=True, default=str)
