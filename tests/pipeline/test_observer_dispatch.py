"""The observer task delivers push records in time slices: a burst (a reply's tokens, each
with its client messages) never holds the event loop while other work waits."""

from __future__ import annotations

import asyncio
import time

from vani.frames import FrameDirection, TextFrame
from vani.pipeline.observers import BaseObserver, FramePushed, ObserverDispatcher
from vani.processors import FrameProcessor


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
