"""Composition laws, checked on generated workflows."""

from __future__ import annotations

import asyncio
import functools
import operator
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tta_dev_primitives import (
    LambdaPrimitive,
    ParallelPrimitive,
    SequentialPrimitive,
    WorkflowContext,
    WorkflowPrimitive,
)

OPS = {"add": operator.add, "mul": operator.mul, "sub": operator.sub}
op_specs = st.tuples(st.sampled_from(sorted(OPS)), st.integers(-5, 5))


def to_step(spec: tuple[str, int], name: str) -> LambdaPrimitive[int, int]:
    op, k = spec

    async def apply(x: int) -> int:
        return OPS[op](x, k)

    return LambdaPrimitive(apply, name=name)


def run(workflow: WorkflowPrimitive[Any, Any], value: Any) -> Any:
    return asyncio.run(workflow.execute(value, WorkflowContext()))


@settings(max_examples=60, deadline=None)
@given(specs=st.lists(op_specs, min_size=2, max_size=12), x=st.integers(-100, 100))
def test_sequence_is_function_composition_and_flat(specs: list[tuple[str, int]], x: int) -> None:
    steps = [to_step(s, f"s{i}") for i, s in enumerate(specs)]
    chain = functools.reduce(operator.rshift, steps)
    assert isinstance(chain, SequentialPrimitive)
    assert [s.name for s in chain.steps] == [s.name for s in steps]

    expected = x
    for op, k in specs:
        expected = OPS[op](expected, k)
    assert run(chain, x) == expected


@settings(max_examples=60, deadline=None)
@given(specs=st.lists(op_specs, min_size=3, max_size=10), data=st.data())
def test_sequence_grouping_does_not_matter(
    specs: list[tuple[str, int]], data: st.DataObject
) -> None:
    steps = [to_step(s, f"s{i}") for i, s in enumerate(specs)]
    cut = data.draw(st.integers(1, len(steps) - 1))
    left = functools.reduce(operator.rshift, steps[:cut]) if cut > 1 else steps[0]
    right = functools.reduce(operator.rshift, steps[cut:]) if len(steps) - cut > 1 else steps[cut]
    grouped = left >> right
    flat = functools.reduce(operator.rshift, steps)
    assert [s.name for s in grouped.steps] == [s.name for s in flat.steps]
    assert run(grouped, 7) == run(flat, 7)


@settings(max_examples=40, deadline=None)
@given(
    delays=st.lists(st.integers(0, 3), min_size=2, max_size=15),
    x=st.integers(-1000, 1000),
)
def test_parallel_results_follow_branch_order_whatever_finishes_first(
    delays: list[int], x: int
) -> None:
    def branch(index: int, delay: int) -> LambdaPrimitive[int, tuple[int, int]]:
        async def work(value: int) -> tuple[int, int]:
            for _ in range(delay):  # yield to the loop a few times: a shuffled finish
                await asyncio.sleep(0)
            return index, value

        return LambdaPrimitive(work, name=f"b{index}")

    branches = [branch(i, d) for i, d in enumerate(delays)]
    fan = functools.reduce(operator.or_, branches)
    assert isinstance(fan, ParallelPrimitive)
    assert len(fan.branches) == len(delays)
    assert run(fan, x) == [(i, x) for i in range(len(delays))]


@settings(max_examples=40, deadline=None)
@given(widths=st.lists(st.integers(1, 4), min_size=2, max_size=5))
def test_parallel_grouping_flattens_to_the_same_branches(widths: list[int]) -> None:
    groups = []
    counter = 0
    for width in widths:
        group = [to_step(("add", counter + i), f"b{counter + i}") for i in range(width)]
        counter += width
        groups.append(functools.reduce(operator.or_, group) if width > 1 else group[0])
    fan = functools.reduce(operator.or_, groups)
    assert [b.name for b in fan.branches] == [f"b{i}" for i in range(counter)]
    assert run(fan, 0) == list(range(counter))
