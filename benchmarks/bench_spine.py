"""Spine benchmarks (pytest-benchmark), one group per operation.

    pytest benchmarks/bench_spine.py --benchmark-only          # full
    pytest benchmarks/bench_spine.py --benchmark-disable       # quick: each once, as a plain test

The pipeline scenarios are those of ``spine_scenarios.py`` (shared with the Pipecat comparison).
Each test keeps one event loop and one started task across rounds, so a round times only what
its group names: the frames are built and the backlog queued outside the clock (pedantic
``setup``). Wall-clock targets are never asserted; the contract is (every frame reaches the sink,
no stale output after an interruption, no input frame lost). Figures measured inside a round
(µs per frame, interruption latency) are stored in ``extra_info``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_benchmark.fixture import BenchmarkFixture

# spine_scenarios.py is shared with compare_pipecat.py, which runs it as a script under another
# interpreter; it is a sibling module, not part of an installed package.
sys.path.insert(0, str(Path(__file__).parent))

from spine_scenarios import (
    INTERRUPT_FRAMES,
    THROUGHPUT_FRAMES,
    Framework,
    Interrupt,
    Throughput,
    load_vani,
    seeded_audio,
)

from vani._core.queue import FrameQueue
from vani.frames import InputAudioRawFrame

ROUNDS = 5


@pytest.fixture(scope="module")
def vani_fw() -> Framework:
    return load_vani()


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = asyncio.new_event_loop()
    try:
        yield lp
    finally:
        lp.run_until_complete(lp.shutdown_asyncgens())
        lp.close()


# -- frames through a pipeline ------------------------------------------------------------------


@pytest.mark.benchmark(group="pipeline-20k-input-audio-10-processors")
def test_input_audio_flows_through_ten_processors_to_the_sink(
    benchmark: BenchmarkFixture, vani_fw: Framework, loop: asyncio.AbstractEventLoop
) -> None:
    sc = Throughput(vani_fw)
    loop.run_until_complete(sc.session.start())
    per_frame_us: list[float] = []
    cpu_us: list[float] = []

    def setup() -> tuple[tuple[list[Any]], dict[str, Any]]:
        return (sc.frames(),), {}

    def push(frames: list[Any]) -> None:
        per_frame_us.append(loop.run_until_complete(sc.push(frames)))
        cpu_us.append(sc.last_cpu_us)

    benchmark.pedantic(push, setup=setup, rounds=ROUNDS, iterations=1)  # type: ignore[no-untyped-call]
    loop.run_until_complete(sc.session.stop())
    assert sc.sink.audio_seen == THROUGHPUT_FRAMES
    benchmark.extra_info["frames_per_round"] = THROUGHPUT_FRAMES
    benchmark.extra_info["per_frame_us_median"] = statistics.median(per_frame_us)
    benchmark.extra_info["cpu_per_frame_us_median"] = statistics.median(cpu_us)


def _interruption_bench(
    benchmark: BenchmarkFixture, fw: Framework, loop: asyncio.AbstractEventLoop, audio: str
) -> tuple[list[float], list[tuple[int, int]]]:
    """Times queue_frame(InterruptionFrame) until it reaches the sink; the backlog is built,
    and the previous round's aftermath collected, in the untimed setup."""
    sc = Interrupt(fw, audio)
    loop.run_until_complete(sc.session.start())
    latencies: list[float] = []
    outcomes: list[tuple[int, int]] = []

    def setup() -> tuple[tuple[()], dict[str, Any]]:
        if latencies:
            outcomes.append(loop.run_until_complete(sc.settle()))
        loop.run_until_complete(sc.prepare(sc.frames()))
        return (), {}

    def interrupt() -> None:
        latencies.append(loop.run_until_complete(sc.interrupt()))

    benchmark.pedantic(interrupt, setup=setup, rounds=ROUNDS, iterations=1)  # type: ignore[no-untyped-call]
    outcomes.append(loop.run_until_complete(sc.settle()))
    loop.run_until_complete(sc.session.stop())
    benchmark.extra_info["queued_frames"] = INTERRUPT_FRAMES
    benchmark.extra_info["latency_ms_median"] = statistics.median(latencies)
    return latencies, outcomes


@pytest.mark.benchmark(group="interruption-500-output-audio-queued")
def test_interruption_overtakes_queued_output_audio_and_flushes_it(
    benchmark: BenchmarkFixture, vani_fw: Framework, loop: asyncio.AbstractEventLoop
) -> None:
    _, outcomes = _interruption_bench(benchmark, vani_fw, loop, "output")
    stale = [after for after, _ in outcomes]
    benchmark.extra_info["stale_frames_max"] = max(stale)
    assert stale == [0] * len(outcomes)


@pytest.mark.benchmark(group="interruption-500-input-audio-queued")
def test_interruption_overtakes_queued_input_audio_and_loses_none(
    benchmark: BenchmarkFixture, vani_fw: Framework, loop: asyncio.AbstractEventLoop
) -> None:
    _, outcomes = _interruption_bench(benchmark, vani_fw, loop, "input")
    lost = [n for _, n in outcomes]
    after = [n for n, _ in outcomes]
    benchmark.extra_info["lost_frames_max"] = max(lost)
    assert lost == [0] * len(outcomes)
    # The interruption overtook the backlog: queued input audio reached the sink after it.
    assert min(after) > 0


# -- building a frame ---------------------------------------------------------------------------


@pytest.mark.benchmark(group="frame-build-input-audio")
def test_building_an_input_audio_frame(benchmark: BenchmarkFixture) -> None:
    audio = seeded_audio()
    frame = benchmark(InputAudioRawFrame, audio=audio, sample_rate=16000, num_channels=1)
    assert frame.audio is audio
    assert frame.num_frames == 320


# -- FrameQueue against asyncio's queues --------------------------------------------------------

ITEMS = 1000


def _frame_queue_pair() -> tuple[Callable[[object], None], Callable[[], object], object]:
    q: FrameQueue[object] = FrameQueue()
    return q.put_ordered, q.get_nowait, q


def _asyncio_queue_pair() -> tuple[Callable[[object], None], Callable[[], object], object]:
    q: asyncio.Queue[object] = asyncio.Queue()
    return q.put_nowait, q.get_nowait, q


def _priority_queue_pair() -> tuple[Callable[[object], None], Callable[[], object], object]:
    # Pipecat's processor input queue: (priority, counter, item) tuples in a heap.
    q: asyncio.PriorityQueue[tuple[int, int, object]] = asyncio.PriorityQueue()
    counter = iter(range(1 << 62)).__next__

    def put(item: object) -> None:
        q.put_nowait((1, counter(), item))

    def get() -> object:
        return q.get_nowait()[2]

    return put, get, q


QUEUES = {
    "FrameQueue": _frame_queue_pair,
    "asyncio.Queue": _asyncio_queue_pair,
    "asyncio.PriorityQueue": _priority_queue_pair,
}


@pytest.mark.benchmark(group="queue-put-get-nowait")
@pytest.mark.parametrize("kind", list(QUEUES))
def test_queue_put_then_get_nowait(benchmark: BenchmarkFixture, kind: str) -> None:
    put, get, _ = QUEUES[kind]()
    item = object()

    def put_get() -> object:
        put(item)
        return get()

    assert benchmark(put_get) is item


@pytest.mark.benchmark(group="queue-put-await-get-x1000")
@pytest.mark.parametrize("kind", list(QUEUES))
def test_queue_put_then_await_get(
    benchmark: BenchmarkFixture, kind: str, loop: asyncio.AbstractEventLoop
) -> None:
    """1000 put + ``await get()`` pairs with an item ready (the consumer never parks)."""

    async def make() -> tuple[Callable[[object], None], Any]:
        put, _, q = QUEUES[kind]()
        return put, q

    put, q = loop.run_until_complete(make())
    items = list(range(ITEMS))
    unwrap = kind == "asyncio.PriorityQueue"

    async def pairs() -> int:
        total = 0
        for i in items:
            put(i)
            got = await q.get()
            total += got[2] if unwrap else got
        return total

    assert benchmark(lambda: loop.run_until_complete(pairs())) == sum(items)


@pytest.mark.benchmark(group="queue-wake-parked-consumer-x1000")
@pytest.mark.parametrize("kind", list(QUEUES))
def test_queue_wakes_a_parked_consumer(
    benchmark: BenchmarkFixture, kind: str, loop: asyncio.AbstractEventLoop
) -> None:
    """1000 hand-offs: the consumer is parked in ``await get()`` and each put wakes it."""

    async def make() -> tuple[Callable[[object], None], Any]:
        put, _, q = QUEUES[kind]()
        return put, q

    put, q = loop.run_until_complete(make())
    unwrap = kind == "asyncio.PriorityQueue"

    async def handoffs() -> int:
        got: list[int] = []

        async def consume() -> None:
            for _ in range(ITEMS):
                item = await q.get()
                got.append(item[2] if unwrap else item)

        consumer = asyncio.ensure_future(consume())
        for i in range(ITEMS):
            await asyncio.sleep(0)  # the consumer parks before each put
            put(i)
        await consumer
        return len(got)

    assert benchmark(lambda: loop.run_until_complete(handoffs())) == ITEMS
