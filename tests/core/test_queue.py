"""FrameQueue contract, run on the compiled queue and its pure-Python reference."""

from __future__ import annotations

import asyncio
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vani._core import queue as compiled
from vani._core.reference import queue as reference

IMPLEMENTATIONS = [pytest.param(compiled, id="compiled"), pytest.param(reference, id="reference")]


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> ModuleType:
    module: ModuleType = request.param
    return module


def test_system_lane_is_served_before_ordered_items(impl: ModuleType) -> None:
    q = impl.FrameQueue()
    q.put_ordered("a")
    q.put_ordered("b")
    q.put_system("S")
    assert [q.get_nowait() for _ in range(3)] == ["S", "a", "b"]


def test_ordered_lane_is_fifo(impl: ModuleType) -> None:
    q = impl.FrameQueue()
    for i in range(100):
        q.put_ordered(i)
    assert [q.get_nowait() for _ in range(100)] == list(range(100))


def test_drop_interruptible_keeps_uninterruptible_items_in_order(impl: ModuleType) -> None:
    q = impl.FrameQueue()
    for i in range(40):
        q.put_ordered(i, interruptible=i % 3 != 0)
    q.put_system("S")
    assert q.drop_interruptible() == 26
    assert q.system_len == 1
    assert q.ordered_len == 14
    assert q.get_nowait() == "S"
    assert [q.get_nowait() for _ in range(14)] == list(range(0, 40, 3))


def test_lane_specific_gets(impl: ModuleType) -> None:
    q = impl.FrameQueue()
    q.put_ordered("o")
    q.put_system("s")
    assert q.get_ordered_nowait() == "o"
    with pytest.raises(impl.QueueEmpty):
        q.get_ordered_nowait()
    assert q.get_system_nowait() == "s"
    with pytest.raises(impl.QueueEmpty):
        q.get_system_nowait()


def test_get_nowait_on_empty_queue_raises(impl: ModuleType) -> None:
    with pytest.raises(impl.QueueEmpty):
        impl.FrameQueue().get_nowait()


async def test_get_parks_until_the_next_put(impl: ModuleType) -> None:
    q = impl.FrameQueue()
    getter = asyncio.ensure_future(q.get())
    for _ in range(5):
        await asyncio.sleep(0)
    assert not getter.done()
    q.put_ordered("x")
    assert await getter == "x"


async def test_a_second_concurrent_consumer_is_refused(impl: ModuleType) -> None:
    q = impl.FrameQueue()
    first = asyncio.ensure_future(q.get())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError):
        await q.get()
    q.put_system(1)
    assert await first == 1


async def test_close_wakes_the_consumer_after_remaining_items(impl: ModuleType) -> None:
    q = impl.FrameQueue()
    q.put_ordered("last")
    q.close()
    q.put_ordered("ignored")
    assert q.closed
    assert await q.get() == "last"
    with pytest.raises(impl.QueueClosed):
        await q.get()
    q2 = impl.FrameQueue()
    waiter = asyncio.ensure_future(q2.get())
    await asyncio.sleep(0)
    q2.close()
    with pytest.raises(impl.QueueClosed):
        await waiter


def test_clear_and_lengths(impl: ModuleType) -> None:
    q = impl.FrameQueue()
    assert not q
    q.put_system(1)
    q.put_ordered(2, interruptible=False)
    assert len(q) == 2 and q
    q.clear()
    assert len(q) == 0 and q.system_len == 0 and q.ordered_len == 0


ops = st.lists(
    st.one_of(
        st.tuples(st.just("sys"), st.integers()),
        st.tuples(st.just("ord"), st.integers(), st.booleans()),
        st.tuples(st.just("get")),
        st.tuples(st.just("drop")),
    ),
    max_size=200,
)


@given(ops)
def test_compiled_queue_matches_the_reference_on_any_sequence(sequence: list[tuple]) -> None:  # type: ignore[type-arg]
    a, b = compiled.FrameQueue(), reference.FrameQueue()
    for op in sequence:
        if op[0] == "sys":
            a.put_system(op[1])
            b.put_system(op[1])
        elif op[0] == "ord":
            a.put_ordered(op[1], op[2])
            b.put_ordered(op[1], op[2])
        elif op[0] == "drop":
            assert a.drop_interruptible() == b.drop_interruptible()
        else:
            ra = rb = None
            try:
                ra = a.get_nowait()
            except compiled.QueueEmpty:
                ra = "empty"
            try:
                rb = b.get_nowait()
            except reference.QueueEmpty:
                rb = "empty"
            assert ra == rb
        assert (a.system_len, a.ordered_len) == (b.system_len, b.ordered_len)
