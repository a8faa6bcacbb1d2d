"""The demo's workflow: tasks a few at a time through one map, model calls behind a bulkhead,
and one span per task named after its id and title."""

from __future__ import annotations

from tta_cli.demo import DemoSettings, Task, build_workflow
from tta_cli.demo.workflow import task_span_name
from tta_dev_integrations.llm import LLMPrimitive, LLMRequest
from tta_dev_integrations.llm.testing import TestModel, TestReply
from tta_dev_primitives import WorkflowContext
from tta_dev_primitives.testing import capture_spans

TASKS = [
    Task(f"T{n}", f"Add retry number {n} to the fetcher", "It fails on 503.") for n in range(6)
]


async def test_every_task_in_order_with_bounded_model_calls_and_a_named_span() -> None:
    model = TestModel(default=TestReply("Write a failing test for the 503 case.", delay_s=0.01))
    settings = DemoSettings(max_concurrency=3, max_model_calls=1)
    workflow = build_workflow(LLMPrimitive("local", provider=model), settings)
    with capture_spans() as spans:
        results = await workflow.execute(TASKS, WorkflowContext())
    assert [r.task.id for r in results] == [t.id for t in TASKS]
    assert all("Write a failing test for the 503 case" in r.plan for r in results)
    assert all(r.tokens > 8 for r in results)
    assert model.most_in_flight == 1
    drafts = [r for r in model.requests if not r.tools]
    assert len(drafts) == len(TASKS)
    assert len(model.requests) - len(drafts) <= 2 * len(TASKS)  # the research agents' steps
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


def test_the_budget_shows_the_smaller_of_the_stored_limit_and_the_runs_own() -> None:
    from rich.console import Console

    from tta_cli.demo.workflow import DemoOutcome
    from tta_cli.render.demo import budget_panel
    from tta_dev_integrations.llm.budget.ledger import SpendSummary

    def panel(stored: int | None, run: float | None) -> str:
        summary = SpendSummary(
            scope="demo", month="2026-12", limit_micros=stored, spent_micros=250_000,
            reserved_micros=0,
        )  # fmt: skip
        outcome = DemoOutcome([], 1.0, summary, calls_this_month=2, run_limit_usd=run)
        console = Console(width=120, record=True)
        console.print(budget_panel(outcome, "demo"))
        return console.export_text()

    assert "of $5.00" in panel(None, 5.0)
    assert "left $4.75" in panel(None, 5.0)
    assert "of $3.00" in panel(3_000_000, 5.0)
    assert "left $2.75" in panel(3_000_000, 5.0)
    assert "no limit" in panel(None, None)
    assert "left unlimited" in panel(None, None)


async def test_demo_json_carries_every_task_the_budget_and_the_trace_file() -> None:
    import json

    from tta_cli.demo.workflow import DemoOutcome
    from tta_cli.render.demo import outcome_json
    from tta_dev_integrations.llm.budget.ledger import SpendSummary

    model = TestModel(default="Write a failing test.")
    workflow = build_workflow(LLMPrimitive("local", provider=model), DemoSettings())
    results = await workflow.execute(TASKS[:2], WorkflowContext())
    summary = SpendSummary(
        scope="demo", month="2026-12", limit_micros=None, spent_micros=0, reserved_micros=0
    )
    outcome = DemoOutcome(results, 0.5, summary, calls_this_month=2, run_limit_usd=5.0)
    data = json.loads(json.dumps(outcome_json(outcome, "demo", "/tmp/spans.jsonl")))
    assert [task["id"] for task in data["tasks"]] == ["T0", "T1"]
    assert data["tasks"][0]["plan"][0] == "Write a failing test"
    assert data["tasks"][0]["model"] == "local"
    assert data["budget"]["limit_usd"] == 5.0
    assert data["budget"]["calls_this_month"] == 2
    assert data["trace_file"] == "/tmp/spans.jsonl"


async def test_related_code_is_what_the_research_agent_found_through_its_tool() -> None:
    from tta_dev_integrations.llm.testing import FunctionModel, tool_call

    def answer(request: LLMRequest) -> TestReply | str:
        if not request.tools:
            return "Write a failing test."
        if request.messages[-1].role == "tool":  # a search result came back: answer
            return TestReply(tool_calls=[tool_call("final_result", result="retry.py")])
        [search] = request.tools
        terms = search.parameters["properties"]["term"]["enum"]
        assert "fetcher" in terms  # the task's own words, and nothing else
        return TestReply(tool_calls=[tool_call("search", term="retry")])

    model = FunctionModel(answer)
    workflow = build_workflow(LLMPrimitive("local", provider=model), DemoSettings())
    [result] = await workflow.execute(TASKS[:1], WorkflowContext())
    [step] = [line for line in result.research if line.startswith("search(retry) -> ")]
    assert "tta_dev_primitives/recovery/retry.py" in step
    assert "tta_dev_primitives/recovery/retry.py" in result.related
    assert result.research[-1].startswith("final_result(retry.py)")
