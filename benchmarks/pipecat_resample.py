"""Per-20 ms resampling cost, runnable under vani's interpreter or Pipecat's.

    python benchmarks/pipecat_resample.py                      # vani + raw soxr (HQ)
    /tmp/pipecat-venv/bin/python benchmarks/pipecat_resample.py  # Pipecat 1.14 + raw soxr (HQ)

Prints one line per rate pair: the median of 41 batches of 200 calls, in µs per 20 ms chunk, for
the framework's resampler and for raw ``soxr.ResampleStream`` (HQ, bytes in and out), batches
interleaved in the same process, so the two columns can be compared across interpreters. Pipecat's
``resample`` is a coroutine that never suspends; it is driven with ``send(None)``, which costs
less than an event loop would, so Pipecat's figure is a lower bound.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

import numpy as np
import soxr

RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)


def run_coroutine(coro: Coroutine[Any, Any, bytes]) -> bytes:
    try:
        coro.send(None)
    except StopIteration as stop:
        return bytes(stop.value)
    raise RuntimeError("the resampler suspended; it was expected to finish at once")


def framework_resampler(rates: tuple[int, int]) -> tuple[str, Callable[[bytes], bytes]]:
    try:
        from pipecat.audio.utils import create_stream_resampler
    except ImportError:
        from vani.audio.resample import StreamResampler

        return "vani", StreamResampler(*rates).resample
    resampler = create_stream_resampler()
    return "pipecat", lambda pcm: run_coroutine(resampler.resample(pcm, *rates))


def medians_us(
    fns: list[Callable[[bytes], bytes]], pcm: bytes, calls: int = 200, batches: int = 41
) -> list[float]:
    """Median µs per call of each function, timing batches of ``calls`` in turn.

    Batches alternate between the functions, so load from other processes on this shared
    machine hits them alike, and a batch of consecutive calls also averages soxr's block
    processing (most calls only buffer input, every few calls one does a block's work).
    """
    for fn in fns:
        for _ in range(100):
            fn(pcm)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(batches):
        for fn, acc in zip(fns, times, strict=True):
            start = time.perf_counter()
            for _ in range(calls):
                fn(pcm)
            acc.append((time.perf_counter() - start) / calls * 1e6)
    return [statistics.median(acc) for acc in times]


def main() -> None:
    pairs = list(itertools.permutations(RATES, 2))
    if len(sys.argv) > 1:
        wanted = {tuple(int(r) for r in arg.split("-")) for arg in sys.argv[1:]}
        pairs = [p for p in pairs if p in wanted]
    for rates in pairs:
        pcm = (
            (np.random.default_rng(rates[0]).standard_normal(rates[0] // 50) * 3277)
            .astype("<i2")
            .tobytes()
        )
        name, fn = framework_resampler(rates)
        stream = soxr.ResampleStream(rates[0], rates[1], 1, dtype="int16", quality="HQ")

        def raw(pcm: bytes, stream: Any = stream) -> bytes:
            return bytes(stream.resample_chunk(np.frombuffer(pcm, dtype=np.int16)).tobytes())

        ours, theirs = medians_us([fn, raw], pcm)
        print(
            f"{rates[0]:>5} -> {rates[1]:>5}  {name} {ours:6.2f} µs  soxr-HQ {theirs:6.2f} µs"
            f"  ratio {ours / theirs:4.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
