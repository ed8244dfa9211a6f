"""The observer task goes after the pipeline: it waits while other work is runnable (for a
bounded time), and delivers push records in time slices, so a burst (a reply's tokens, each
with its client messages) never holds the event loop while other work waits."""

from __future__ import annotations

import asyncio
import time

import pytest

from vani.frames import FrameDirection, TextFrame, UserStoppedSpeakingFrame
from vani.pipeline import observers
from vani.pipeline.observers import BaseObserver, FramePushed, ObserverDispatcher
from vani.processors import FrameProcessor
from vani.processors.idle import others_ready, yield_quietly


class Slow(BaseObserver):
    """Spends 50 µs of CPU on every record, as an observer sending client messages does."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def on_push_frame(self, data: FramePushed) -> None:
        end = time.perf_counter() + 50e-6
        while time.perf_counter() < end:
            pass
        self.log.append("observer")


async def test_a_burst_of_records_lets_other_work_run_between_slices() -> None:
    log: list[str] = []
    dispatcher = ObserverDispatcher([Slow(log)])
    dispatcher.start()
    source = FrameProcessor(name="source")
    for i in range(100):  # 5 ms of observer work in one burst
        dispatcher.frame_pushed(source, TextFrame(text=str(i)), FrameDirection.DOWNSTREAM)

    async def other() -> None:
        while log.count("observer") < 100:
            log.append("other")
            await asyncio.sleep(0)

    await asyncio.wait_for(other(), 5)
    await dispatcher.stop()
    assert log.count("observer") == 100
    # The other task ran between the observer's slices, not only before and after the burst.
    first, last = log.index("observer"), len(log) - 1 - log[::-1].index("observer")
    assert log[first:last].count("other") >= 5


async def test_records_wait_while_the_pipeline_has_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observers, "_DEFER_NS", 60_000_000_000)  # only quiet ends the wait
    log: list[str] = []
    dispatcher = ObserverDispatcher([Slow(log)])
    dispatcher.start()
    source = FrameProcessor(name="source")

    async def pipeline_step(i: int) -> None:
        # A chain of hops, as a frame crossing processors: each step schedules the next.
        log.append(f"step {i}")
        dispatcher.frame_pushed(source, TextFrame(text=str(i)), FrameDirection.DOWNSTREAM)
        await asyncio.sleep(0)

    for i in range(30):
        await pipeline_step(i)
    log.append("pipeline idle")
    await asyncio.sleep(0.05)  # the loop goes quiet: the observer runs now
    await dispatcher.stop()
    assert log.count("observer") == 30
    assert log.index("pipeline idle") < log.index("observer")


async def test_a_loop_that_never_goes_quiet_still_gets_its_records() -> None:
    log: list[str] = []
    dispatcher = ObserverDispatcher([Slow(log)])
    dispatcher.start()
    dispatcher.frame_pushed(FrameProcessor(), TextFrame(text="x"), FrameDirection.DOWNSTREAM)

    async def busy() -> None:
        while "observer" not in log:  # always runnable: only the deadline lets it through
            await asyncio.sleep(0)

    await asyncio.wait_for(busy(), 5)
    await dispatcher.stop()
    assert log == ["observer"]


async def test_two_tasks_waiting_for_quiet_do_not_wait_for_each_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A virtual clock waits for a quiet loop before it moves time on, as the observers do:
    # each must not count the other's yields as work.
    monkeypatch.setattr(observers, "_DEFER_NS", 60_000_000_000)
    loop = asyncio.get_running_loop()
    log: list[str] = []
    dispatcher = ObserverDispatcher([Slow(log)])
    dispatcher.start()
    dispatcher.frame_pushed(FrameProcessor(), TextFrame(text="x"), FrameDirection.DOWNSTREAM)
    quiet_seen = 0

    async def other_waiter() -> None:
        nonlocal quiet_seen
        while "observer" not in log:
            await yield_quietly(loop)
            quiet_seen += others_ready(loop) == 0

    await asyncio.wait_for(other_waiter(), 5)
    await dispatcher.stop()
    assert log == ["observer"] and quiet_seen > 0


def test_others_ready_is_unknown_on_a_loop_that_does_not_say() -> None:
    class Opaque:  # uvloop keeps its ready list to itself
        pass

    assert others_ready(Opaque()) is None  # type: ignore[arg-type]


async def test_a_speaking_state_is_delivered_at_once_with_what_came_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The user's "stopped speaking" must reach the client before the reply's audio, however
    # busy the loop is: that push, and the records queued before it, do not wait for quiet.
    monkeypatch.setattr(observers, "_DEFER_NS", 60_000_000_000)
    seen: list[str] = []

    class Names(BaseObserver):
        async def on_push_frame(self, data: FramePushed) -> None:
            seen.append(type(data.frame).__name__)

    dispatcher = ObserverDispatcher([Names()])
    dispatcher.start()
    source = FrameProcessor()
    dispatcher.frame_pushed(source, TextFrame(text="a"), FrameDirection.DOWNSTREAM)
    dispatcher.frame_pushed(source, UserStoppedSpeakingFrame(), FrameDirection.DOWNSTREAM)

    async def busy() -> None:
        while "UserStoppedSpeakingFrame" not in seen:  # never quiet: only urgency helps
            await asyncio.sleep(0)

    await asyncio.wait_for(busy(), 5)
    await dispatcher.stop()
    assert seen == ["TextFrame", "UserStoppedSpeakingFrame"]


async def test_catch_up_delivers_what_is_pending_on_a_busy_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(observers, "_DEFER_NS", 60_000_000_000)
    log: list[str] = []
    dispatcher = ObserverDispatcher([Slow(log)])
    dispatcher.start()
    for i in range(3):
        dispatcher.frame_pushed(FrameProcessor(), TextFrame(text=str(i)), FrameDirection.DOWNSTREAM)
    stop = False

    async def busy() -> None:
        while not stop:
            await asyncio.sleep(0)

    spinner = asyncio.create_task(busy())
    await asyncio.sleep(0)
    assert log == []  # waiting for a quiet loop that never comes
    await asyncio.wait_for(dispatcher.catch_up(5.0), 5)
    assert log == ["observer"] * 3
    stop = True
    await spinner
    await dispatcher.stop()


async def test_catch_up_is_bounded_by_a_stuck_observer() -> None:
    gate = asyncio.Event()
    seen: list[int] = []

    class Stuck(BaseObserver):
        async def on_push_frame(self, data: FramePushed) -> None:
            seen.append(1)
            await gate.wait()

    dispatcher = ObserverDispatcher([Stuck()])
    dispatcher.start()
    dispatcher.frame_pushed(FrameProcessor(), TextFrame(text="x"), FrameDirection.DOWNSTREAM)
    await asyncio.wait_for(dispatcher.catch_up(0.05), 5)  # returns although nothing finished
    assert seen == [1]
    gate.set()
    await dispatcher.stop()
