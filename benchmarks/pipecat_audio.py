"""Per-20 ms cost of PCM helpers, runnable under vani's interpreter or Pipecat's.

    PYTHONPATH=. python benchmarks/pipecat_audio.py       # vani.audio.pcm
    /tmp/pipecat-venv/bin/python benchmarks/pipecat_audio.py  # Pipecat 1.14's pipecat.audio.utils

Prints the median of 41 batches of 2,000 calls, in µs per call, for the operations both
frameworks offer: mixing two streams (Pipecat ``mix_audio``), gain (``scale_audio``), G.711
μ-law encode and decode (Pipecat calls :mod:`audioop`, or ``audioop-lts`` on 3.13+) and
int16 -> float32 (Pipecat converts with numpy wherever it needs floats, e.g. in
``calculate_audio_volume``). Inputs: seeded noise at about -20 dBFS, 20 ms at 16 kHz (8 kHz for
G.711).
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np


def noise(num_samples: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(num_samples) * 3277).clip(-32768, 32767).astype("<i2").tobytes()


PCM_16K, OTHER_16K, PCM_8K = noise(320, 16), noise(320, 17), noise(160, 8)


def operations() -> tuple[str, dict[str, Callable[[], object]]]:
    try:
        from pipecat.audio import utils
    except ImportError:
        from vani.audio import pcm

        ulaw = pcm.lin2ulaw(PCM_8K, 2)
        return "vani", {
            "mix": lambda: pcm.mix(PCM_16K, OTHER_16K),
            "gain": lambda: pcm.apply_gain(PCM_16K, 0.5),
            "ulaw encode": lambda: pcm.lin2ulaw(PCM_8K, 2),
            "ulaw decode": lambda: pcm.ulaw2lin(ulaw, 2),
            "int16->float32": lambda: pcm.int16_to_float32(PCM_16K),
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop  # what pipecat.audio.utils imports for G.711

    ulaw = audioop.lin2ulaw(PCM_8K, 2)
    return "pipecat", {
        "mix": lambda: utils.mix_audio(PCM_16K, OTHER_16K),
        "gain": lambda: utils.scale_audio(PCM_16K, 0.5),
        "ulaw encode": lambda: audioop.lin2ulaw(PCM_8K, 2),
        "ulaw decode": lambda: audioop.ulaw2lin(ulaw, 2),
        "int16->float32": lambda: np.frombuffer(PCM_16K, np.int16).astype(np.float32) / 32768.0,
    }


def median_us(fn: Callable[[], object], calls: int = 2000, batches: int = 41) -> float:
    for _ in range(calls):
        fn()
    per_call = []
    for _ in range(batches):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        per_call.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(per_call)


def main() -> None:
    framework, ops = operations()
    print(f"{framework} on Python {sys.version.split()[0]}: median µs per 20 ms")
    for name, fn in ops.items():
        print(f"  {name:<16} {median_us(fn):8.3f}")


if __name__ == "__main__":
    main()
