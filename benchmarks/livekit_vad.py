"""LiveKit VAD streams per core: livekit-plugins-silero vs vani.contrib.livekit, one run.

    VANI_LIVEKIT_PYTHON=... python benchmarks/livekit_vad.py [--streams 50] [--quick]

Re-runs itself under ``VANI_LIVEKIT_PYTHON`` (a venv with livekit-agents 1.8 and
livekit-plugins-silero; tools/ci/setup-20-livekit.sh builds one). Each side pushes the same real
speech (tests/fixtures/speech/piper_16k.wav) into N streams at once and reads every event; the
CPU time per second of audio gives the streams one core holds in real time (1 / that). Both
plugins load one model per process; theirs runs every window alone on a thread executor, ours
batches the windows of all streams.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import wave
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WAV = ROOT / "tests" / "fixtures" / "speech" / "piper_16k.wav"


async def one_side(which: str, streams: int) -> dict[str, float]:
    from livekit import rtc

    if which == "livekit":
        from livekit.plugins import silero

        vad: Any = silero.VAD.load()
    else:
        from vani.contrib.livekit import VAD

        vad = VAD.load()
    with wave.open(str(WAV), "rb") as w:
        pcm, rate = w.readframes(w.getnframes()), w.getframerate()
    step = rate // 50 * 2
    frames = [
        rtc.AudioFrame(
            data=pcm[i : i + step], sample_rate=rate, num_channels=1, samples_per_channel=step // 2
        )
        for i in range(0, len(pcm) - step + 1, step)
    ]

    async def run() -> int:
        s = vad.stream()
        for f in frames:
            s.push_frame(f)
            await asyncio.sleep(0)
        s.end_input()
        n = len([ev async for ev in s])
        await s.aclose()
        return n

    await run()  # warm up: model loaded, threads started
    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(run() for _ in range(streams)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    audio_secs = len(frames) * 0.02 * streams
    return {"cpu_ms_per_audio_sec": cpu / audio_secs * 1000, "streams_per_core": audio_secs / cpu}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", type=int, default=50)
    ap.add_argument("--quick", action="store_true", help="5 streams (CI)")
    ap.add_argument("--side", choices=["livekit", "vani"])
    args = ap.parse_args()
    streams = 5 if args.quick else args.streams
    if args.side:
        print(json.dumps(asyncio.run(one_side(args.side, streams))))
        return
    python = os.environ.get("VANI_LIVEKIT_PYTHON")
    if not python:
        print("VANI_LIVEKIT_PYTHON is not set (a venv with livekit-agents); skipped")
        return
    env = dict(os.environ)
    extra = os.environ.get("VANI_LIVEKIT_VANI") or str(ROOT)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [extra, env.get("PYTHONPATH")]))
    results = {}
    for side in ("livekit", "vani"):  # one process each, so neither pays for the other's model
        out = subprocess.run(
            [python, __file__, "--side", side, "--streams", str(streams)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        results[side] = json.loads(out.strip().splitlines()[-1])
    print(f"{streams} streams of {WAV.name}")
    print(f"{'':24}{'livekit-plugins-silero':>24}{'vani.contrib.livekit':>24}")
    for key in ("cpu_ms_per_audio_sec", "streams_per_core"):
        a, b = results["livekit"][key], results["vani"][key]
        print(f"{key:24}{a:24.1f}{b:24.1f}")
    ratio = results["vani"]["streams_per_core"] / results["livekit"]["streams_per_core"]
    print(f"ratio (streams per core): {ratio:.1f}x")


if __name__ == "__main__":
    sys.exit(main())
