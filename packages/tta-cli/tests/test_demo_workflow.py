"""The demo's workflow: tasks a few at a time through one map, model calls behind a bulkhead,
and one span per task named after its id and title."""

from __future__ import annotations

import asyncio
from typing import Any

from tta_cli.demo import DemoSettings, Task, build_workflow
from tta_cli.demo.workflow import task_span_name
from tta_dev_integrations.llm import LLMResponse, Usage
from tta_dev_primitives import WorkflowContext
from tta_dev_primitives.testing import FunctionPrimitive, capture_spans

TASKS = [
    Task(f"T{n}", f"Add retry number {n} to the fetcher", "It fails on 503.") for n in range(6)
]


class Model:
    """Answers every request after a pause, counting the calls in flight."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def answer(self, request: dict[str, Any]) -> LLMResponse:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.01)
        finally:
            self.now -= 1
        return LLMResponse(
            "Write a failing test for the 503 case.",
            model="scripted",
            provider="test",
            usage=Usage(input_tokens=20, output_tokens=8),
        )


async def test_every_task_in_order_with_bounded_model_calls_and_a_named_span() -> None:
    model = Model()
    settings = DemoSettings(max_concurrency=3, max_model_calls=1)
    workflow = build_workflow(FunctionPrimitive(model.answer, name="model"), settings)
    with capture_spans() as spans:
        results = await workflow.execute(TASKS, WorkflowContext())
    assert [r.task.id for r in results] == [t.id for t in TASKS]
    assert all("Write a failing test for the 503 case" in r.plan for r in results)
    assert all(r.tokens == 28 for r in results)
    assert model.most == 1
    triage = spans.one("triage")
    per_task = sorted(span.name for span in spans.children(triage))
    assert per_task == sorted(f"task {t.id}: {t.title}" for t in TASKS)
    for span in spans.children(triage):
        assert [child.name for child in spans.children(span)] == ["task"]


def test_a_long_title_is_shortened_in_the_span_name() -> None:
    name = task_span_name(Task("T9", "x" * 80, ""))
    assert name.startswith("task T9: xxx")
    assert name.endswith("...")
    assert len(name) <= 60
