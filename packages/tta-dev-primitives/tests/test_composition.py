from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest

from tta_dev_primitives import (
    CompositionError,
    ConditionalPrimitive,
    LambdaPrimitive,
    ParallelPrimitive,
    RouteNotFoundError,
    RouterPrimitive,
    SequentialPrimitive,
    WorkflowContext,
    WorkflowPrimitive,
)
from tta_dev_primitives.testing import FunctionPrimitive


async def add_one(x: int) -> int:
    return x + 1


async def double(x: int) -> int:
    return x * 2


async def with_context(x: int, ctx: WorkflowContext) -> tuple[int, str]:
    return x, ctx.workflow_id


class Square(WorkflowPrimitive[int, int]):
    async def _execute_impl(self, input_data: int, context: WorkflowContext) -> int:
        return input_data * input_data


# -- sequence ------------------------------------------------------------------------


async def test_sequence_feeds_each_output_to_the_next_step(ctx: WorkflowContext) -> None:
    workflow = LambdaPrimitive(add_one) >> double >> Square()
    assert await workflow.execute(2, ctx) == 36


def test_chained_rshift_builds_one_flat_sequence() -> None:
    a, b, c, d = (LambdaPrimitive(add_one, name=n) for n in "abcd")
    chain = a >> b >> c >> d
    assert isinstance(chain, SequentialPrimitive)
    assert [s.name for s in chain.steps] == ["a", "b", "c", "d"]
    assert [s.name for s in ((a >> b) >> (c >> d)).steps] == ["a", "b", "c", "d"]


def test_explicit_sequence_stays_one_node() -> None:
    inner = SequentialPrimitive([add_one, double], name="inner")
    chain = inner >> add_one
    assert len(chain.steps) == 2
    assert chain.steps[0] is inner


async def test_async_function_on_the_left_composes(ctx: WorkflowContext) -> None:
    workflow = add_one >> Square()
    assert isinstance(workflow, SequentialPrimitive)
    assert await workflow.execute(2, ctx) == 9


async def test_step_may_take_the_context(ctx: WorkflowContext) -> None:
    workflow = LambdaPrimitive(add_one) >> with_context
    assert await workflow.execute(1, ctx) == (2, "test-workflow")


async def test_partial_and_async_callable_objects_compose(ctx: WorkflowContext) -> None:
    async def scale(x: int, factor: int) -> int:
        return x * factor

    class Offset:
        async def __call__(self, x: int) -> int:
            return x + 100

    workflow = LambdaPrimitive(functools.partial(scale, factor=3)) >> Offset()
    assert await workflow.execute(2, ctx) == 106


async def test_same_context_object_reaches_every_step() -> None:
    seen: list[WorkflowContext] = []

    async def record(x: int, ctx: WorkflowContext) -> int:
        seen.append(ctx)
        return x

    ctx = WorkflowContext()
    await (LambdaPrimitive(record) >> record >> record).execute(0, ctx)
    assert seen == [ctx, ctx, ctx]


async def test_failing_step_stops_the_sequence_and_keeps_the_error(
    ctx: WorkflowContext,
) -> None:
    after = FunctionPrimitive(lambda x: x)

    async def boom(x: int) -> int:
        raise ValueError(f"bad {x}")

    with pytest.raises(ValueError, match="bad 1"):
        await (LambdaPrimitive(boom) >> after).execute(1, ctx)
    assert after.calls == []


def test_empty_sequence_and_parallel_are_rejected() -> None:
    with pytest.raises(ValueError, match="at least one step"):
        SequentialPrimitive([])
    with pytest.raises(ValueError, match="at least one branch"):
        ParallelPrimitive([])


# -- bad input at composition time ---------------------------------------------------


def sync_function(x: int) -> int:
    return x


@pytest.mark.parametrize("bad", [42, "step", None, sync_function, object(), Square])
def test_composing_a_non_primitive_is_a_type_error_naming_it(bad: Any) -> None:
    for compose in (
        lambda: Square() >> bad,
        lambda: bad >> Square(),
        lambda: Square() | bad,
        lambda: bad | Square(),
        lambda: SequentialPrimitive([add_one, bad]),
        lambda: ParallelPrimitive([bad]),
    ):
        with pytest.raises(TypeError) as info:
            compose()
        if isinstance(info.value, CompositionError):
            assert repr(bad) in str(info.value)


def test_sync_function_error_says_how_to_fix() -> None:
    with pytest.raises(CompositionError, match="async def"):
        LambdaPrimitive(sync_function)  # type: ignore[arg-type]


# -- parallel ------------------------------------------------------------------------


async def test_parallel_gives_every_branch_the_same_input_in_branch_order(
    ctx: WorkflowContext,
) -> None:
    async def slow_first(x: int) -> str:
        await asyncio.sleep(0.02)
        return f"slow {x}"

    async def fast(x: int) -> str:
        return f"fast {x}"

    workflow = LambdaPrimitive(slow_first) | fast | Square()
    assert isinstance(workflow, ParallelPrimitive)
    assert len(workflow.branches) == 3
    assert await workflow.execute(3, ctx) == ["slow 3", "fast 3", 9]


async def test_branches_really_run_concurrently(ctx: WorkflowContext) -> None:
    barrier = asyncio.Barrier(3)

    async def meet(x: int) -> int:
        await barrier.wait()  # deadlocks unless all three run at once
        return x

    result = await asyncio.wait_for((meet | LambdaPrimitive(meet) | meet).execute(7, ctx), 2)
    assert result == [7, 7, 7]


async def test_failing_branch_cancels_the_others_and_raises_its_error(
    ctx: WorkflowContext,
) -> None:
    cancelled = asyncio.Event()
    finished = False

    async def slow(x: int) -> int:
        nonlocal finished
        try:
            await asyncio.sleep(5)
            finished = True
            return x
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def fail(x: int) -> int:
        await asyncio.sleep(0)
        raise KeyError("branch failed")

    with pytest.raises(KeyError, match="branch failed"):
        await (LambdaPrimitive(slow) | fail).execute(1, ctx)
    # The sibling was cancelled and had finished cancelling before the error surfaced.
    assert cancelled.is_set()
    assert not finished


async def test_collect_errors_runs_every_branch_and_raises_a_group(
    ctx: WorkflowContext,
) -> None:
    ran: list[str] = []

    async def ok(x: int) -> int:
        await asyncio.sleep(0.01)
        ran.append("ok")
        return x

    async def bad_value(x: int) -> int:
        raise ValueError("v")

    async def bad_key(x: int) -> int:
        raise KeyError("k")

    workflow = ParallelPrimitive([bad_value, ok, bad_key], collect_errors=True, name="all")
    with pytest.raises(ExceptionGroup) as info:
        await workflow.execute(1, ctx)
    assert ran == ["ok"]
    assert [type(e) for e in info.value.exceptions] == [ValueError, KeyError]
    assert "2 of 3 branches" in str(info.value)
    assert await ParallelPrimitive([ok, ok], collect_errors=True).execute(2, ctx) == [2, 2]


async def test_cancelling_a_parallel_cancels_every_branch(ctx: WorkflowContext) -> None:
    started = 0
    cancelled = 0

    async def wait_forever(x: int) -> int:
        nonlocal started, cancelled
        started += 1
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return x

    task = asyncio.create_task((LambdaPrimitive(wait_forever) | wait_forever).execute(0, ctx))
    for _ in range(10):  # let both branches start
        await asyncio.sleep(0)
    assert started == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == 2


def test_explicit_parallel_stays_one_branch() -> None:
    pair = ParallelPrimitive([add_one, double], name="pair")
    combined = pair | Square()
    assert combined.branches[0] is pair
    assert len(combined.branches) == 2


# -- conditional and router ----------------------------------------------------------


async def test_conditional_takes_then_or_otherwise(ctx: WorkflowContext) -> None:
    choose = ConditionalPrimitive(lambda x: x > 10, then=double, otherwise=add_one)
    assert await choose.execute(20, ctx) == 40
    assert await choose.execute(1, ctx) == 2


async def test_conditional_without_otherwise_passes_input_through(ctx: WorkflowContext) -> None:
    only_big = ConditionalPrimitive(lambda x: x > 10, then=double)
    assert await only_big.execute(3, ctx) == 3


async def test_conditional_accepts_async_predicates_with_context() -> None:
    async def is_vip(_: int, ctx: WorkflowContext) -> bool:
        return bool(ctx.metadata.get("vip"))

    choose = ConditionalPrimitive(is_vip, then=double, otherwise=add_one)
    assert await choose.execute(5, WorkflowContext(metadata={"vip": True})) == 10
    assert await choose.execute(5, WorkflowContext()) == 6


async def test_router_runs_the_named_branch_and_records_it(ctx: WorkflowContext) -> None:
    router = RouterPrimitive(
        {"small": add_one, "big": double},
        route=lambda x: "big" if x > 10 else "small",
        name="size",
    )
    assert await router.execute(20, ctx) == 40
    assert ctx.metadata["route:size"] == "big"
    assert await router.execute(2, ctx) == 3


async def test_router_unknown_route_is_a_clear_error(ctx: WorkflowContext) -> None:
    router = RouterPrimitive({"a": add_one, "b": double}, route=lambda _: "c", name="r")
    with pytest.raises(RouteNotFoundError) as info:
        await router.execute(1, ctx)
    message = str(info.value)
    assert "'c'" in message
    assert "'a', 'b'" in message
    assert "default=" in message
    assert isinstance(info.value, LookupError)


async def test_router_falls_back_to_default(ctx: WorkflowContext) -> None:
    router = RouterPrimitive({"a": add_one, "b": double}, route=lambda _: "zzz", default="b")
    assert await router.execute(4, ctx) == 8


async def test_router_non_string_route_is_not_found(ctx: WorkflowContext) -> None:
    router = RouterPrimitive({"a": add_one}, route=lambda _: ["a"])
    with pytest.raises(RouteNotFoundError):
        await router.execute(1, ctx)


def test_router_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="at least one route"):
        RouterPrimitive({}, route=lambda _: "a")
    with pytest.raises(RouteNotFoundError):
        RouterPrimitive({"a": add_one}, route=lambda _: "a", default="missing")
    with pytest.raises(TypeError):
        RouterPrimitive({"a": 3}, route=lambda _: "a")  # type: ignore[dict-item]


async def test_subclass_without_super_init_still_runs(ctx: WorkflowContext) -> None:
    class NoInit(WorkflowPrimitive[int, int]):
        def __init__(self, offset: int) -> None:
            self.offset = offset

        async def _execute_impl(self, input_data: int, context: WorkflowContext) -> int:
            return input_data + self.offset

    assert await NoInit(5).execute(1, ctx) == 6
    assert NoInit(5).display_name == "NoInit"


def test_primitive_without_impl_cannot_be_instantiated() -> None:
    class Incomplete(WorkflowPrimitive[int, int]):
        pass

    with pytest.raises(TypeError, match="_execute_impl"):
        Incomplete()  # type: ignore[abstract]
