"""Clocks: the virtual clock skips idle waits, sees executor work, and can charge it."""

from __future__ import annotations

import asyncio
import time

import pytest

from vani.errors import PipelineError
from vani.transports.clock import VirtualClock, WallClock


async def ticks(clock: VirtualClock | WallClock, period: float, n: int) -> list[float]:
    seen = []
    for k in range(1, n + 1):
        await clock.sleep_until(k * period)
        seen.append(clock.now())
    return seen


async def test_virtual_clock_runs_a_minute_of_ticks_in_no_time() -> None:
    clock = VirtualClock()
    clock.start()
    began = time.perf_counter()
    seen = await ticks(clock, 0.02, 3000)
    await clock.stop()
    assert seen == pytest.approx([k * 0.02 for k in range(1, 3001)])
    assert time.perf_counter() - began < 5.0  # 60 s of ticks


@pytest.mark.parametrize("charge", [False, True])
async def test_virtual_clock_waits_for_executor_jobs(charge: bool) -> None:
    clock = VirtualClock(charge_processing_time=charge)
    clock.start()
    done_at: list[float] = []

    async def blocking_job() -> None:
        await clock.sleep_until(0.5)
        await asyncio.to_thread(time.sleep, 0.2)
        done_at.append(clock.now())

    seen, _ = await asyncio.gather(ticks(clock, 0.02, 50), blocking_job())
    await clock.stop()
    # Frozen: the job takes no virtual time. Charged: it takes its 0.2 s of wall time.
    if charge:
        assert 0.7 <= done_at[0] < 1.0  # wall time of a loaded machine only adds to it
    else:
        assert done_at[0] == pytest.approx(0.5)
    # Either way the ticker never ran ahead of the job: tick times stay in order, and exact
    # when time is frozen.
    assert seen == sorted(seen)
    if not charge:
        assert seen == pytest.approx([k * 0.02 for k in range(1, 51)])


async def test_cancelled_timers_do_not_fire() -> None:
    clock = VirtualClock()
    clock.start()
    fired: list[str] = []
    handle = clock.call_at(0.1, lambda: fired.append("cancelled"))
    clock.call_at(0.2, lambda: fired.append("kept"))
    handle.cancel()
    await clock.sleep_until(0.3)
    await clock.stop()
    assert fired == ["kept"]


async def test_wall_clock_follows_real_time() -> None:
    clock = WallClock()
    clock.start()
    await clock.sleep(0.05)
    assert 0.045 <= clock.now() < 0.5
    await clock.stop()


def test_a_clock_used_before_start_is_an_error() -> None:
    with pytest.raises(PipelineError, match="before start"):
        VirtualClock().call_at(1.0, lambda: None)
