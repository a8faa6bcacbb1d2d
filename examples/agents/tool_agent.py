"""A tool-using agent loop, built from primitives, on the local model.

For each question the agent asks the local model (SmolLM2-135M through llama.cpp: no
key, no network) for its next move, as one line: `CALL tool(argument)` or `ANSWER
text`. The line is parsed and checked, because a model this small often invents a
tool or an argument: the tool must exist, its argument must be quoted from the
question (a calculator expression whole, a `find` name as a code identifier), `clock()`
only answers questions about the time, no call may repeat, and an answer must contain
the last tool result. A move that fails a check (or a model that is missing or slow)
falls back, through a `FallbackPrimitive`, to a deterministic rule-based planner; each
step says which planner moved. A `RouterPrimitive` dispatches calls to the Python
functions of `agent_tools.py`, and each result goes back to the model as the next
turn. The loop stops at an answer or after MAX_STEPS moves.

Run it with `python examples/agents/tool_agent.py ["your question"]` (a few seconds).
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field

from agent_tools import DISPATCH, TOOLS, evaluate

from tta_dev_integrations.llm import LLMError, LLMPrimitive, ToolCall
from tta_dev_primitives import FallbackPrimitive, LambdaPrimitive, TimeoutPrimitive, WorkflowContext

MAX_STEPS = 4
QUESTIONS = ["What is 17 * 23 + 4?", "Where is RetryPrimitive defined?", "What time is it now?"]
PARAMETER: dict[str, str | None] = {
    t.name: next(iter(t.parameters["properties"]), None) for t in TOOLS
}
SYSTEM = (
    "You answer questions with tools:\n"
    + "\n".join(f"- {t.name}({PARAMETER[t.name] or ''}): {t.description}" for t in TOOLS)
    + "\nReply with one line: CALL tool(argument), or ANSWER text once a result answers it."
)
EXAMPLES = [  # one worked question per tool: small models copy a format they have seen
    ("What is 6 * 7?", "calculator(6 * 7)", "42"),
    ("Where is FooBar defined?", "find(FooBar)", "src/foo.py:3"),
    ("What is the time?", "clock()", "2024-05-01 09:30 UTC"),
]
CALL_LINE = re.compile(r"CALL (\w+)\((.*)\)")
TIME_WORDS = re.compile(r"\b(time|date|today|now|clock)\b", re.I)
model = TimeoutPrimitive(LLMPrimitive("local"), 30.0, name="local-model")


class UnusableMove(Exception):
    """The model's reply is not a move the agent can make."""


@dataclass
class Step:
    planner: str  # "model" or "rules"
    call: ToolCall | None = None
    answer: str = ""
    result: str = ""
    rejected: str = ""  # for a rules step: what the model said, and why it was not used


@dataclass
class Run:
    question: str
    steps: list[Step] = field(default_factory=list)
    rejected: str = ""


def as_line(step: Step) -> str:
    if step.call is None:
        return f"ANSWER {step.answer}"
    return f"CALL {step.call.name}({''.join(map(str, step.call.arguments.values()))})"


def check(line: str, run: Run) -> Step:
    """The model's line as a step, or UnusableMove saying what is wrong with it."""
    results = [s.result for s in run.steps if s.call is not None]
    if line.startswith("ANSWER "):
        if not results or results[-1] not in line:
            raise UnusableMove("an answer must contain the last tool result")
        return Step("model", answer=line.removeprefix("ANSWER ").strip())
    match = CALL_LINE.fullmatch(line)
    if match is None:
        raise UnusableMove("not a CALL or ANSWER line")
    name, argument = match[1], match[2].strip()
    if name not in PARAMETER:
        raise UnusableMove(f"there is no tool {name!r}")
    parameter = PARAMETER[name]
    if bool(parameter) != bool(argument):
        raise UnusableMove(f"{name}() takes {'one argument' if parameter else 'no argument'}")
    squeezed = run.question.replace(" ", "")
    if name == "calculator":
        numbers = re.findall(r"\d+", run.question)
        if argument.replace(" ", "") not in squeezed or re.findall(r"\d+", argument) != numbers:
            raise UnusableMove("the expression is not the question's, whole")
        with suppress(ArithmeticError):  # well formed; the tool will report the failure
            evaluate(argument)  # raises ValueError (fallen back on) if not arithmetic
    elif name == "find" and not (
        re.fullmatch(r"[A-Za-z]\w*(?:[A-Z_]\w*)", argument)
        and re.search(rf"\b{re.escape(argument)}\b", run.question)
    ):
        raise UnusableMove("the name is not a code identifier quoted from the question")
    elif name == "clock" and not TIME_WORDS.search(run.question):
        raise UnusableMove("clock() answers only questions of time")
    arguments = {parameter: argument} if parameter else {}
    if any(s.call and (s.call.name, s.call.arguments) == (name, arguments) for s in run.steps):
        raise UnusableMove("it repeats an earlier call")
    return Step("model", call=ToolCall(f"call-{len(run.steps) + 1}", name, arguments))


async def ask_model(run: Run, ctx: WorkflowContext) -> Step:
    messages: list[dict[str, str]] = []
    for question, call, result in EXAMPLES:
        messages += [
            {"role": "user", "content": f"Question: {question}"},
            {"role": "assistant", "content": f"CALL {call}"},
            {"role": "user", "content": f"Result: {result}"},
            {"role": "assistant", "content": f"ANSWER {result}"},
        ]
    messages.append({"role": "user", "content": f"Question: {run.question}"})
    for step in run.steps:
        messages += [
            {"role": "assistant", "content": as_line(step)},
            {"role": "user", "content": f"Result: {step.result}"},
        ]
    run.rejected = ""
    try:
        reply = await model.execute(
            {"system": SYSTEM, "messages": messages, "max_tokens": 24, "stop": ["\n"]}, ctx
        )
    except (LLMError, TimeoutError) as error:
        run.rejected = f"the model could not answer ({type(error).__name__})"
        raise
    line = reply.content.strip()
    try:
        return check(line, run)
    except (UnusableMove, ValueError) as error:
        run.rejected = f"the model said {line!r}: {error}"
        raise UnusableMove(run.rejected) from error


async def rules(run: Run) -> Step:
    """The deterministic planner: one tool chosen by keywords, then its result as answer."""
    done = [s for s in run.steps if s.call is not None]
    if done:
        return Step("rules", answer=done[-1].result, rejected=run.rejected)
    question = run.question
    expression = re.search(r"[\d(][\d\s.+\-*/%()]*[\d)]", question)
    identifier = re.search(r"\b[A-Za-z]+[A-Z_]\w*\b", question)
    if expression:
        call = ToolCall("call-1", "calculator", {"expression": expression[0]})
    elif identifier:
        call = ToolCall("call-1", "find", {"name": identifier[0]})
    elif TIME_WORDS.search(question):
        call = ToolCall("call-1", "clock", {})
    else:
        return Step("rules", answer="none of my tools can answer that", rejected=run.rejected)
    return Step("rules", call=call, rejected=run.rejected)


planner = FallbackPrimitive(
    LambdaPrimitive(ask_model, name="model-planner"),
    [LambdaPrimitive(rules, name="rule-planner")],
    fallback_on=(UnusableMove, LLMError, TimeoutError),
    name="planner",
)


async def solve(question: str, ctx: WorkflowContext) -> Run:
    """Plan, dispatch, feed the result back; until an answer or MAX_STEPS moves."""
    run = Run(question)
    for _ in range(MAX_STEPS):
        step = await planner.execute(run, ctx)
        run.steps.append(step)
        if step.call is None:
            break
        try:
            step.result = await DISPATCH.execute(step.call, ctx)
        except (ValueError, ArithmeticError) as error:  # the next move sees the failure
            step.result = f"error: {error}"
    return run


def show(run: Run) -> None:
    print(f"\nQ: {run.question}")
    for number, step in enumerate(run.steps, 1):
        done = f" -> {step.result}" if step.call is not None else ""
        print(f"  {number}. {step.planner:<7}{as_line(step)}{done}")
        if step.rejected:
            print(f"     (rule-based: {step.rejected})")
    final = run.steps[-1]
    print(f"  answer: {final.answer if final.call is None else '(none within MAX_STEPS)'}")


async def main(questions: list[str]) -> int:
    ctx = WorkflowContext(workflow_id="tool-agent")
    runs = [await solve(question, ctx) for question in questions]
    for run in runs:
        show(run)
    steps = [step for run in runs for step in run.steps]
    planners = Counter(step.planner for step in steps)
    tools = Counter(step.call.name for step in steps if step.call is not None)
    print(f"\n{len(steps)} moves: {planners['model']} by the model, {planners['rules']} by rules")
    print("tools run: " + ", ".join(f"{name} x{count}" for name, count in sorted(tools.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:] or QUESTIONS)))
