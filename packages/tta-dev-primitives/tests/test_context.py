from __future__ import annotations

import pickle

import pytest

from tta_dev_primitives import WorkflowContext


def test_new_contexts_have_distinct_ids() -> None:
    a, b = WorkflowContext(), WorkflowContext()
    assert a.context_id != b.context_id
    assert a.correlation_id != b.correlation_id
    assert a.workflow_id == a.context_id
    assert a.causation_id is None
    assert a.causation_chain == ()


def test_child_keeps_identity_and_records_causation() -> None:
    root = WorkflowContext(workflow_id="wf", correlation_id="corr", metadata={"user": "ada"})
    child = root.child(step="plan")
    grandchild = child.child()

    assert (child.workflow_id, child.correlation_id) == ("wf", "corr")
    assert child.causation_id == root.context_id
    assert grandchild.causation_chain == (root.context_id, child.context_id)
    assert grandchild.parent is child
    assert child.metadata == {"user": "ada", "step": "plan"}


def test_child_copies_metadata_and_tags_but_shares_state() -> None:
    root = WorkflowContext(metadata={"a": 1}, tags={"team": "x"})
    child = root.child()
    child.metadata["b"] = 2
    child.tags["env"] = "dev"
    child.state["answer"] = 42

    assert root.metadata == {"a": 1}
    assert root.tags == {"team": "x"}
    assert root.state == {"answer": 42}


def test_child_does_not_copy_values_deeply() -> None:
    shared = {"big": list(range(1000))}
    root = WorkflowContext(metadata={"payload": shared})
    assert root.child().metadata["payload"] is shared


def test_checkpoints_record_elapsed_time_in_order() -> None:
    ctx = WorkflowContext()
    first = ctx.checkpoint("start")
    second = ctx.checkpoint("end")
    assert [name for name, _ in ctx.checkpoints] == ["start", "end"]
    assert 0 <= first <= second <= ctx.elapsed_ms()


def test_traceparent_round_trip() -> None:
    header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    ctx = WorkflowContext.from_traceparent(header, workflow_id="wf")
    assert ctx.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert ctx.span_id == "00f067aa0ba902b7"
    assert ctx.trace_flags == 1
    assert ctx.traceparent == header
    assert ctx.workflow_id == "wf"
    assert WorkflowContext().traceparent is None


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero span id
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",  # not hex
    ],
)
def test_malformed_traceparent_is_a_clear_value_error(header: str) -> None:
    with pytest.raises(ValueError, match="traceparent"):
        WorkflowContext.from_traceparent(header)


def test_repr_names_the_ids_only() -> None:
    ctx = WorkflowContext(workflow_id="wf", metadata={"token": "s3cr3t"})
    assert "wf" in repr(ctx)
    assert "s3cr3t" not in repr(ctx)


def test_context_pickles_with_its_ids() -> None:
    # So a context can cross into a worker process and keep joining the same trace.
    ctx = WorkflowContext(workflow_id="wf")
    copy = pickle.loads(pickle.dumps(ctx))
    assert copy.workflow_id == "wf"
    assert copy.correlation_id == ctx.correlation_id
