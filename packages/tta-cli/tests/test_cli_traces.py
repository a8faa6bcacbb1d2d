from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.cells import cell_len
from typer.testing import CliRunner

from tta_cli.commands.traces import register
from tta_cli.errors import CLIError
from tta_dev_integrations.llm.budget.sqlite import SQLiteLedger
from tta_dev_integrations.llm.primitive import LLMPrimitive
from tta_dev_integrations.llm.testing import TestModel, TestReply
from tta_dev_integrations.llm.types import Usage
from tta_dev_integrations.llm.universal import UniversalLLMPrimitive
from tta_dev_primitives import SequentialPrimitive, WorkflowContext
from tta_dev_primitives.observability.span_file import span_to_dict
from tta_dev_primitives.testing import FunctionPrimitive, capture_spans

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def line(
    span_id: str,
    parent: str | None = None,
    *,
    name: str | None = None,
    start: int = 1_700_000_000_000_000_000,
    length: int = 1_000_000,
    trace_id: str = TRACE,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": name or f"step-{span_id}",
        "kind": "INTERNAL",
        "start_time_unix_nano": start,
        "end_time_unix_nano": start + length,
        "status": {"code": "UNSET", "description": None},
        "attributes": {"tta.primitive.type": "LambdaPrimitive", "tta.outcome": "success"},
        "events": [],
        "resource": {"service.name": "test"},
        **extra,
    }


def write(path: Path, lines: list[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        for item in lines:
            out.write((item if isinstance(item, str) else json.dumps(item)) + "\n")
    return path


def canned(name: str, input_tokens: int, output_tokens: int) -> TestModel:
    """Answers every request with the same text and token counts, without a network."""
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    return TestModel(default=TestReply("an answer", usage=usage), name=name)


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def root() -> None:
        """Test root."""

    register(app)
    return app


def run(*args: str, columns: int = 80) -> Any:
    return CliRunner().invoke(cli(), ["traces", *args], env={"COLUMNS": str(columns)})


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TTA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
async def llm_trace_file(home: Path, tmp_path: Path) -> Path:
    """The spans of a real workflow that routes one call and makes another directly."""
    ledger = SQLiteLedger(tmp_path / "ledger.db")
    router = UniversalLLMPrimitive(
        coder="none",
        budget_profile="careful",
        free_models=["kimi"],
        paid_models=["gpt-4.1"],
        ledger=ledger,
        providers={
            "openrouter": canned("openrouter", 120, 45),
            "openai": canned("openai", 1, 1),
        },
    )
    summarise = LLMPrimitive("gpt-4o-mini", provider=canned("openai", 800, 200))

    async def to_request(response: Any) -> str:
        return f"Summarise: {response.content}"

    workflow = SequentialPrimitive(
        [
            FunctionPrimitive(lambda q: {"prompt": q, "complexity": "low"}, name="classify"),
            router,
            FunctionPrimitive(to_request, name="prepare"),
            summarise,
        ],
        name="answer-flow",
    )
    try:
        with capture_spans() as captured:
            await workflow.execute("What is TTA.dev?", WorkflowContext())
    finally:
        await ledger.close()
    return write(home / "traces" / "spans.jsonl", [span_to_dict(span) for span in captured.spans])


def test_a_real_llm_workflow_shows_as_a_tree_readable_at_80_columns(llm_trace_file: Path) -> None:
    result = run()

    assert result.exit_code == 0, result.output
    out = result.stdout
    for expected in (
        "answer-flow",
        "SequentialPrimitive",
        "universal-llm",
        "UniversalLLMPrimitive",
        "chat moonshotai/kimi-k2:free",
        "kimi",
        "120\u219245 tok",
        "chat gpt-4o-mini",
        "800\u2192200 tok",
        "1165 tokens",
        "6 spans",
        "$0.00024",
    ):
        assert expected in out
    assert max(cell_len(row) for row in out.splitlines()) <= 80
    rows = out.splitlines()
    assert rows[0].startswith("answer-flow  ok")
    assert any("trace " in row for row in rows[:2])
    router_row = next(i for i, row in enumerate(rows) if "universal-llm" in row)
    kimi_span = "chat moonshotai/kimi-k2:free"  # the GenAI conventions' name: the model id
    kimi_row = next(i for i, row in enumerate(rows) if kimi_span in row)
    assert kimi_row > router_row
    assert rows[kimi_row].index(kimi_span) > rows[router_row].index("universal-llm")
    kimi_call = " ".join(rows[kimi_row : kimi_row + 2])  # the model id's row may wrap
    assert "120\u219245 tok" in kimi_call
    assert "$0" in kimi_call
    assert "kimi" in rows[router_row]


def test_json_output_carries_the_same_tree(llm_trace_file: Path) -> None:
    result = run("--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["files"] == [str(llm_trace_file)]
    assert data["skipped_lines"] == 0
    (trace,) = data["traces"]
    assert trace["name"] == "answer-flow"
    assert (trace["input_tokens"], trace["output_tokens"]) == (920, 245)
    assert trace["models"][:2] == ["kimi", "gpt-4o-mini"]
    depth_of = {s["name"]: s["depth"] for s in trace["spans"]}
    assert depth_of["answer-flow"] == 0
    assert depth_of["chat moonshotai/kimi-k2:free"] == depth_of["universal-llm"] + 1
    router = next(s for s in trace["spans"] if s["name"] == "universal-llm")
    assert router["attributes"]["tta.routing.chosen"] == "kimi"


def test_html_writes_a_timeline_of_the_selected_traces(
    llm_trace_file: Path, tmp_path: Path
) -> None:
    target = tmp_path / "timeline.html"

    result = run("--html", str(target))

    assert result.exit_code == 0, result.output
    page = target.read_text(encoding="utf-8")
    assert "chat moonshotai/kimi-k2:free" in page
    assert "answer-flow" in page
    assert str(target) in result.stdout
    assert "answer-flow  ok" not in result.stdout


def test_html_into_a_missing_directory_is_a_clear_error(
    llm_trace_file: Path, tmp_path: Path
) -> None:
    result = run("--html", str(tmp_path / "no" / "such" / "dir" / "t.html"))

    assert result.exit_code == 1
    assert isinstance(result.exception, CLIError)
    assert "could not write the timeline" in str(result.exception)


def test_newest_first_limit_and_rotated_file(home: Path) -> None:
    start = 1_700_000_000_000_000_000
    write(home / "traces" / "spans.jsonl.1", [line("a", name="oldest", trace_id="1" * 32)])
    write(
        home / "traces" / "spans.jsonl",
        [
            line("b", name="middle", start=start + 10**9, trace_id="2" * 32),
            line("c", name="newest", start=start + 2 * 10**9, trace_id="3" * 32),
        ],
    )

    everything = run().stdout
    assert everything.index("newest") < everything.index("middle") < everything.index("oldest")
    latest = run("--limit", "1").stdout
    assert "newest" in latest
    assert "middle" not in latest
    assert "oldest" not in latest


def test_trace_prefix_selects_one_and_an_unknown_one_says_how_to_list(home: Path) -> None:
    write(
        home / "traces" / "spans.jsonl",
        [line("a", name="first", trace_id="ab" * 16), line("b", name="second", trace_id="cd" * 16)],
    )

    chosen = run("--trace", "CDCD")
    assert chosen.exit_code == 0
    assert "second" in chosen.stdout
    assert "first" not in chosen.stdout

    missing = run("--trace", "ffff")
    assert missing.exit_code == 1
    assert "no trace whose id starts with 'ffff'" in str(missing.exception)
    assert "tta traces" in str(missing.exception)


def test_a_missing_file_explains_how_to_record_traces(home: Path) -> None:
    result = run()

    assert result.exit_code == 1
    message = str(result.exception)
    assert str(home / "traces" / "spans.jsonl") in message
    assert "tta demo" in message
    assert "observability.setup()" in message


def test_an_empty_or_all_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.jsonl", [])
    result = run("--file", str(empty))
    assert result.exit_code == 1
    assert f"no spans in {empty}" in str(result.exception)

    corrupt = write(tmp_path / "corrupt.jsonl", ["{oops", "[]"])
    result = run("--file", str(corrupt))
    assert result.exit_code == 1
    assert "2 corrupt lines skipped" in str(result.exception)


def test_corrupt_lines_are_skipped_with_a_count(tmp_path: Path) -> None:
    path = write(tmp_path / "spans.jsonl", ["{oops", line("r"), "42", line("k", "r")])

    result = run("--file", str(path))

    assert result.exit_code == 0
    assert "step-r" in result.stdout
    assert "step-k" in result.stdout
    assert "skipped 2 corrupt line(s)" in result.stderr


def test_errors_orphans_and_partial_traces_are_shown(tmp_path: Path) -> None:
    failed = line(
        "f",
        "r",
        name="charge",
        status={"code": "ERROR", "description": "ValueError: ledger unreachable"},
        attributes={"tta.outcome": "error", "tta.primitive.type": "LambdaPrimitive"},
    )
    path = write(tmp_path / "spans.jsonl", [line("r", "lost-parent", name="billing"), failed])

    out = run("--file", str(path)).stdout

    assert "partial" in out
    assert "(parent missing)" in out
    assert "1 failed" in out
    charge = next(row for row in out.splitlines() if "charge" in row)
    assert "error" in charge
    assert "ValueError: ledger unreachable" in out


def test_untrusted_names_are_printed_literally(tmp_path: Path) -> None:
    path = write(
        tmp_path / "spans.jsonl",
        [line("r", name="[bold red]markup[/bold red]"), line("k", "r", name="\x1b[2Jclear\nme")],
    )

    result = run("--file", str(path))

    assert result.exit_code == 0
    assert "[bold red]markup[/bold red]" in result.stdout
    assert "\x1b" not in result.stdout
    assert "\\x1b[2Jclear\\nme" in result.stdout


def test_a_limit_below_one_is_a_usage_error(tmp_path: Path) -> None:
    assert run("--limit", "0").exit_code == 2


def test_the_command_module_imports_only_typer() -> None:
    code = (
        "import sys; import tta_cli.commands.traces; "
        "heavy = [m for m in ('rich', 'tta_dev_primitives', 'opentelemetry') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == ""
