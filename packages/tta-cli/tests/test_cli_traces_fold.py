"""``tta traces`` folds chains of single-child wrappers into the row of the step they wrap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tta_cli.app import main
from tta_dev_primitives import (
    BulkheadPrimitive,
    CachePrimitive,
    MapPrimitive,
    RetryPrimitive,
    SequentialPrimitive,
    TimeoutPrimitive,
    WorkflowContext,
)
from tta_dev_primitives.observability.span_file import span_to_dict
from tta_dev_primitives.testing import FunctionPrimitive, capture_spans

WRAPPERS = "via draft-cache \u203a again \u203a deadline \u203a calls"


@pytest.fixture
async def span_file(tmp_path: Path) -> Path:
    chat = FunctionPrimitive(lambda request: f"plan for {request}", name="chat local")
    draft = CachePrimitive(
        RetryPrimitive(
            TimeoutPrimitive(BulkheadPrimitive(chat, 2, name="calls"), 5.0, name="deadline"),
            name="again",
        ),
        name="draft-cache",
    )
    task = SequentialPrimitive([draft], name="task")
    backlog = MapPrimitive(task, item_name=lambda item: f"task {item}: a title", name="triage")
    with capture_spans() as captured:
        await backlog.execute(["T1", "T2"], WorkflowContext())
    path = tmp_path / "spans.jsonl"
    path.write_text("".join(json.dumps(span_to_dict(s)) + "\n" for s in captured.spans))
    return path


def test_a_chain_of_wrappers_is_one_row_naming_them(
    span_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["traces", "--file", str(span_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    chats = [line for line in lines if "chat local" in line]
    assert len(chats) == 2
    assert all(WRAPPERS in line for line in chats)
    tasks = [line for line in lines if "task T" in line]
    assert len(tasks) == 2
    assert all(line.rstrip().endswith("via task") for line in tasks)
    assert not any("draft-cache" in line and "chat local" not in line for line in lines)

    assert main(["traces", "--file", str(span_file), "--unfold"]) == 0
    unfolded = capsys.readouterr().out.splitlines()
    assert sum("draft-cache" in line for line in unfolded) == 2
    assert not any(" via " in line for line in unfolded)
    assert len(unfolded) == len(lines) + 2 * 5
