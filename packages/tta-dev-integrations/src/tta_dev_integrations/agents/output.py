"""The final answer of a run: plain text, or a typed value validated by pydantic.

A typed answer is asked for as a call of one more tool, :data:`FINAL_RESULT_TOOL`,
whose parameters are the output type's JSON Schema (wrapped as ``{"result": ...}``
when the type is not an object). Every provider calls tools, and the local model's
grammar then constrains the answer too. A plain-text answer is accepted as well when
it parses and validates as JSON. Validation failures go back to the model, a bounded
number of times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from tta_dev_integrations.llm.types import Tool

__all__ = ["FINAL_RESULT_TOOL", "OutputSpec"]

FINAL_RESULT_TOOL = "final_result"
"""The tool a run with a typed ``output_type`` gives its answer through."""


@dataclass(frozen=True, slots=True)
class OutputSpec:
    """How to ask for, and check, a run's answer of type ``output_type``."""

    output_type: Any
    adapter: TypeAdapter[Any] | None
    wrapped: bool
    tool: Tool | None

    @classmethod
    def of(cls, output_type: Any, *, as_tool: bool = False) -> OutputSpec:
        """The spec of ``output_type``.

        ``str`` is plain text, nothing to validate, unless ``as_tool`` (a model that
        must call a tool at every step gives its text answer through the tool too).
        """
        if output_type is str and not as_tool:
            return cls(str, None, False, None)
        adapter: TypeAdapter[Any] = TypeAdapter(output_type)
        schema = adapter.json_schema()
        wrapped = schema.get("type") != "object"
        if wrapped:
            defs = schema.pop("$defs", None)
            schema = {"type": "object", "properties": {"result": schema}, "required": ["result"]}
            if defs:
                schema["$defs"] = defs
        schema.pop("title", None)
        tool = Tool(
            FINAL_RESULT_TOOL,
            "Give the answer to the question, as soon as a tool result answers it.",
            schema,
        )
        return cls(output_type, adapter, wrapped, tool)

    @property
    def instruction(self) -> str:
        """What the system message adds so the model knows how to answer."""
        if self.tool is None:
            return ""
        return f"When you have the answer, call {FINAL_RESULT_TOOL} with it."

    def from_arguments(self, arguments: dict[str, Any]) -> Any:
        """The answer from a ``final_result`` call; ``ValueError`` for the model if invalid."""
        assert self.adapter is not None
        if self.wrapped:
            if set(arguments) != {"result"}:
                raise ValueError(
                    f"{FINAL_RESULT_TOOL} takes one argument, 'result'; got {sorted(arguments)}"
                )
            value = arguments["result"]
        else:
            value = arguments
        return self._validate(value)

    def from_text(self, text: str) -> Any:
        """The answer from plain text; ``ValueError`` for the model if it is not one."""
        if self.adapter is None:
            return text
        try:
            value = json.loads(text)
        except ValueError:
            raise ValueError(
                f"the answer must be given by calling {FINAL_RESULT_TOOL}, not as text"
            ) from None
        if self.wrapped and isinstance(value, dict) and set(value) == {"result"}:
            value = value["result"]
        return self._validate(value)

    def _validate(self, value: Any) -> Any:
        assert self.adapter is not None
        try:
            return self.adapter.validate_python(value)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in item['loc']) or '(the answer)'}: {item['msg']}"
                for item in error.errors(include_url=False, include_input=False)
            )
            raise ValueError(f"the answer does not validate: {problems}") from None
