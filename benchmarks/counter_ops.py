"""The core operations the deterministic counter gate measures (benchmarks/counters.py).

    python benchmarks/counter_ops.py OP N          # OP N times after a warm-up (for cachegrind)
    python benchmarks/counter_ops.py --alloc OP    # retained tracemalloc blocks per OP

Each ``prepare_*`` builds its inputs and returns ``run(n)``, which performs the operation n
times. counters.py runs every OP twice under cachegrind with two counts and divides the
difference, so start-up, imports and set-up cancel out.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

Run = Callable[[int], None]
MIC = random.Random(20).randbytes(640)  # 20 ms at 16 kHz
PHONE = random.Random(21).randbytes(320)  # 20 ms at 8 kHz
EVENT = {
    "label": "rtvi-ai",
    "type": "user-input",
    "data": {"text": "two large pizzas", "input_type": "transcription", "final": True},
}
VAD_BATCH = 16


def prepare_frame_10_processors() -> Run:
    from spine_scenarios import Throughput, load_vani

    loop = asyncio.new_event_loop()
    sc = Throughput(load_vani(), n_frames=1)
    loop.run_until_complete(sc.session.start())

    def run(n: int) -> None:
        sc.n_frames = n
        loop.run_until_complete(sc.push(sc.frames()))

    return run


def prepare_vad_window_batched() -> Run:
    """One window of each of 16 streams, as one batch; the count is per window."""
    from vani.audio.silero import SileroBatcher, SileroStream
    from vani.audio.vad_params import VADParams

    batcher = SileroBatcher(16000, max_batch=VAD_BATCH)
    streams = [SileroStream(16000, VADParams()) for _ in range(VAD_BATCH)]
    window = random.Random(3).randbytes(1024)

    def run(n: int) -> None:
        for _ in range(n):
            for s in streams:
                s.feed(window)
            batcher.analyze_sync(streams)

    return run


def prepare_resample_20ms() -> Run:
    from vani.audio.resample import StreamResampler

    r = StreamResampler(16000, 8000)

    def run(n: int) -> None:
        for _ in range(n):
            r.resample(MIC)

    return run


def prepare_g711_encode() -> Run:
    from vani.audio.pcm import ulaw_encode

    def run(n: int) -> None:
        for _ in range(n):
            ulaw_encode(PHONE)

    return run


def prepare_g711_decode() -> Run:
    from vani.audio.pcm import ulaw_decode

    law = PHONE[:160]

    def run(n: int) -> None:
        for _ in range(n):
            ulaw_decode(law)

    return run


def prepare_protobuf_audio_out() -> Run:
    from vani.frames import OutputAudioRawFrame
    from vani.serializers import ProtobufFrameSerializer

    s = ProtobufFrameSerializer()
    frame = OutputAudioRawFrame(audio=MIC, sample_rate=16000)

    def run(n: int) -> None:
        for _ in range(n):
            s.serialize(frame)

    return run


def prepare_protobuf_audio_in() -> Run:
    from vani.frames import OutputAudioRawFrame
    from vani.serializers import ProtobufFrameSerializer

    s = ProtobufFrameSerializer()
    wire = s.serialize(OutputAudioRawFrame(audio=MIC, sample_rate=16000))
    assert isinstance(wire, bytes)

    def run(n: int) -> None:
        for _ in range(n):
            s.deserialize(wire)

    return run


def prepare_rtvi_message_out() -> Run:
    from vani.frames import OutputTransportMessageUrgentFrame
    from vani.serializers import ProtobufFrameSerializer

    s = ProtobufFrameSerializer()
    frame = OutputTransportMessageUrgentFrame(message=EVENT)

    def run(n: int) -> None:
        for _ in range(n):
            s.serialize(frame)

    return run


def prepare_rtvi_message_in() -> Run:
    from vani.frames import OutputTransportMessageUrgentFrame
    from vani.serializers import ProtobufFrameSerializer

    s = ProtobufFrameSerializer()
    wire = s.serialize(OutputTransportMessageUrgentFrame(message=EVENT))
    assert wire is not None

    def run(n: int) -> None:
        for _ in range(n):
            s.deserialize(wire)

    return run


OPS: dict[str, Callable[[], Run]] = {
    name.removeprefix("prepare_"): fn
    for name, fn in list(globals().items())
    if name.startswith("prepare_") and callable(fn)
}
#: What one counted unit is, where an OP's run does more than one.
PER_UNIT = {"vad_window_batched": VAD_BATCH}


def retained_blocks_per_op(op: str, warm: int = 300, n: int = 1500) -> float:
    """Memory blocks still held after ``n`` more operations in steady state, per operation."""
    run = OPS[op]()
    run(warm)
    tracemalloc.start()
    try:
        # A full traced run first: what it sets up once (caches, a ring's slots, which hold
        # their last item until overwritten) is there before and after the measured run.
        run(n)
        before = tracemalloc.take_snapshot()
        run(n)
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    grown = sum(s.count_diff for s in after.compare_to(before, "lineno") if s.count_diff > 0)
    return grown / n / PER_UNIT.get(op, 1)


def main() -> None:
    if sys.argv[1] == "--alloc":
        print(retained_blocks_per_op(sys.argv[2]))
        return
    run = OPS[sys.argv[1]]()
    run(3)  # warm: lazy imports, model load, first-call caches
    run(int(sys.argv[2]))


if __name__ == "__main__":
    main()
