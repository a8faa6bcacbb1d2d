"""Tools an agent may call, made from plain Python functions or from primitives.

A tool's name is the function's, its description the docstring's first paragraph, and
the JSON Schema of its arguments comes from the type hints through pydantic, built once
when the tool is made. The model's arguments are validated against the same model
before the function runs; what does not validate is never called, and the validation
error goes back to the model as the tool's result so it can correct itself.

A parameter annotated :class:`~tta_dev_primitives.WorkflowContext` receives the run's
context and is not part of the schema. ``Args:`` sections of Google-style docstrings
(``name: what it is``) describe the parameters.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from tta_dev_integrations.agents.errors import ToolDefinitionError
from tta_dev_integrations.llm.types import Tool
from tta_dev_primitives import WorkflowContext, WorkflowPrimitive

__all__ = ["AgentTool", "ToolArgumentsError", "tool", "tool_from_primitive"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_ARG_LINE = re.compile(r"^\s+(\w+)(?:\s*\([^)]*\))?:\s*(.+)$")


class ToolArgumentsError(ValueError):
    """The model's arguments for a tool do not validate; the message is for the model."""


@dataclass(frozen=True, slots=True)
class AgentTool:
    """A tool: its name, description, argument schema, and how to run it.

    Build one with :func:`tool` (a function) or :func:`tool_from_primitive`.
    ``timeout_s`` bounds one call (``None``: the agent's default); ``needs_approval``
    makes a run pause for a human decision before each call (see ``AgentPrimitive``).
    """

    name: str
    description: str
    arguments_model: type[BaseModel]
    invoke: Callable[[BaseModel, WorkflowContext], Awaitable[Any]]
    timeout_s: float | None = None
    needs_approval: bool = False

    @property
    def parameters(self) -> dict[str, Any]:
        """The JSON Schema of the arguments (an object)."""
        return _schema(self.arguments_model)

    @property
    def definition(self) -> Tool:
        """The tool as the LLM layer sends it to a model."""
        return Tool(self.name, self.description, self.parameters)

    def validate(self, arguments: Mapping[str, Any]) -> BaseModel:
        """The arguments validated, or :class:`ToolArgumentsError` saying what is wrong."""
        try:
            return self.arguments_model.model_validate(dict(arguments))
        except ValidationError as error:
            raise ToolArgumentsError(_explain(self.name, error)) from None

    async def call(self, arguments: Mapping[str, Any], context: WorkflowContext) -> Any:
        """Validate ``arguments`` and run the tool; its result as the function returns it."""
        return await self.invoke(self.validate(arguments), context)


@overload
def tool(
    function: Callable[..., Any],
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    needs_approval: bool = False,
) -> AgentTool: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    needs_approval: bool = False,
) -> Callable[[Callable[..., Any]], AgentTool]: ...


def tool(
    function: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    timeout_s: float | None = None,
    needs_approval: bool = False,
) -> AgentTool | Callable[[Callable[..., Any]], AgentTool]:
    """A tool from a function, sync or async: ``@tool`` or ``@tool(needs_approval=True)``.

    A sync function runs in a worker thread, so a slow one does not hold the event loop
    (and a tool timeout can stop waiting for it).
    """

    def make(fn: Callable[..., Any]) -> AgentTool:
        return _function_tool(fn, name, description, timeout_s, needs_approval)

    return make(function) if function is not None else make


def tool_from_primitive(
    primitive: WorkflowPrimitive[Any, Any],
    *,
    name: str,
    description: str,
    input_type: Any = str,
    timeout_s: float | None = None,
    needs_approval: bool = False,
) -> AgentTool:
    """A primitive as a tool, called with the model's input and the run's context.

    The primitive's input is a value of ``input_type``: a pydantic model's fields are the
    tool's arguments (the primitive receives the model instance); any other type is one
    argument named ``input``.
    """
    _check_name(name)
    if isinstance(input_type, type) and issubclass(input_type, BaseModel):
        arguments_model: type[BaseModel] = input_type

        async def invoke_model(arguments: BaseModel, context: WorkflowContext) -> Any:
            return await primitive.execute(arguments, context)

        invoke = invoke_model
    else:
        arguments_model = _model(name, {"input": (input_type, ...)})

        async def invoke_value(arguments: BaseModel, context: WorkflowContext) -> Any:
            return await primitive.execute(getattr(arguments, "input"), context)  # noqa: B009

        invoke = invoke_value
    return AgentTool(name, description, arguments_model, invoke, timeout_s, needs_approval)


def _function_tool(
    fn: Callable[..., Any],
    name: str | None,
    description: str | None,
    timeout_s: float | None,
    needs_approval: bool,
) -> AgentTool:
    tool_name: str = name or str(getattr(fn, "__name__", ""))
    _check_name(tool_name)
    doc = inspect.getdoc(fn) or ""
    summary, argument_docs = _read_docstring(doc)
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError) as error:
        raise ToolDefinitionError(
            f"tool {tool_name!r}: its type hints cannot be resolved ({error}); define the "
            "types it names at module level"
        ) from error
    fields: dict[str, Any] = {}
    context_parameter: str | None = None
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ToolDefinitionError(
                f"tool {tool_name!r}: *{parameter.name} has no schema; name every parameter"
            )
        hint = hints.get(parameter.name)
        if hint is WorkflowContext:
            context_parameter = parameter.name
            continue
        if hint is None:
            raise ToolDefinitionError(
                f"tool {tool_name!r}: parameter {parameter.name!r} has no type hint; the "
                "model needs one to know what to send"
            )
        default = ... if parameter.default is parameter.empty else parameter.default
        info = FieldInfo.from_annotated_attribute(hint, default)
        if info.description is None and parameter.name in argument_docs:
            info.description = argument_docs[parameter.name]
        fields[parameter.name] = (hint, info)
    arguments_model = _model(tool_name, fields)
    is_async = inspect.iscoroutinefunction(fn)

    async def invoke(arguments: BaseModel, context: WorkflowContext) -> Any:
        kwargs = {field: getattr(arguments, field) for field in fields}
        if context_parameter is not None:
            kwargs[context_parameter] = context
        if is_async:
            return await fn(**kwargs)
        import asyncio

        return await asyncio.to_thread(fn, **kwargs)

    return AgentTool(
        tool_name,
        description if description is not None else summary,
        arguments_model,
        invoke,
        timeout_s,
        needs_approval,
    )


def _model(name: str, fields: dict[str, Any]) -> type[BaseModel]:
    try:
        return create_model(
            f"{name}_arguments",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **fields,
        )
    except (TypeError, ValueError) as error:  # pydantic's schema errors are both
        raise ToolDefinitionError(
            f"tool {name!r}: its parameters have no JSON Schema ({error}); use JSON types, "
            "dataclasses or pydantic models"
        ) from error


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    for spec in (schema.get("properties") or {}).values():
        if isinstance(spec, dict):
            spec.pop("title", None)
    return schema


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise ToolDefinitionError(
            f"tool name {name!r} is not accepted by providers: use letters, digits, _ and -, "
            "at most 64 characters, starting with a letter or _"
        )


def _read_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The first paragraph, and the ``Args:`` descriptions by parameter name."""
    summary = doc.split("\n\n", 1)[0].strip()
    arguments: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            in_args = True
            continue
        if in_args and line.strip():
            if not line[0].isspace():
                in_args = False  # the next section
                continue
            match = _ARG_LINE.match(line)
            if match is not None:
                arguments[match[1]] = match[2].strip()
    return summary, arguments


def _explain(name: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "(the arguments)"
        problems.append(f"{where}: {item['msg']}")
    return f"the arguments of {name!r} do not validate: " + "; ".join(problems)
