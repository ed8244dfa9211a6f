"""Real-time VAD sessions on one core: how many keep up, vani against Pipecat 1.14.

Each session is a pipeline ``VADProcessor → sink`` fed the speech fixture (looped, a different
offset per session) in 20 ms ``InputAudioRawFrame``s at real-time pace. The lag of a frame is
the time from when it was due to be sent to when it reached the sink; a session count keeps up
when the p99 lag over all frames (after a 2 s warm-up) stays under 100 ms and every frame
arrives. The whole process is pinned to one core by the caller (``--search`` does it with
``taskset -c 0``).

    # one run (N sessions, S seconds of audio each), prints a JSON line
    taskset -c 0 python benchmarks/vad_sessions.py --framework vani --sessions 200 --secs 20
    /tmp/pipecat-venv/bin/python benchmarks/vad_sessions.py --framework pipecat --sessions 40
    # largest N that keeps up, for both frameworks (spawns the runs above)
    python benchmarks/vad_sessions.py --search --secs 20
    # the same with the end-of-turn model after the VAD (VAD stop 0.2 s): vani's
    # VADProcessor(turn_analyzer=SmartTurnAnalyzer()) against Pipecat's Silero VADProcessor and
    # LLMUserAggregator with its default stop strategy (LocalSmartTurnAnalyzerV3)
    python benchmarks/vad_sessions.py --search --turn --secs 20

With ``--turn`` a session count keeps up only if the end-of-turn model keeps up too: every
question it is asked (each VAD pause after speech) is timed from the ask to its verdict, and the
verdicts' p50 must stay within 200 ms and their p99 within 500 ms, with no question left
unanswered at the end. 200 ms is what the turn model may take if a complete turn is to end
0.4 s after the speech (the VAD's 0.2 s stop plus the verdict); the audio's lag alone does not
show a model that has fallen behind, since its inference runs off the event loop (vani: one
worker thread, niced; Pipecat: a thread per analyzer). A question whose asker gave up because
the user spoke again is not a verdict; if it had waited longer than 500 ms it counts as a late
one.

The machine is shared, so figures move by ±10 % between runs; compare both frameworks from the
same search.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import time
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "fixtures" / "speech" / "speech_16k.wav"
PIPECAT_PYTHON = os.environ.get("VANI_PIPECAT_PYTHON", "/tmp/pipecat-venv/bin/python")
TURN = False  # --turn: the end-of-turn model after the VAD
FRAME_SECS = 0.02
WARMUP_SECS = 2.0
DRAIN_SECS = 2.0
RATE = 16000
# --turn: the end-of-turn verdict's latency bounds for a session count to keep up (see above)
VERDICT_P50_SECS = 0.2
VERDICT_P99_SECS = 0.5


def _chunks() -> list[bytes]:
    with wave.open(str(SPEECH), "rb") as w:
        pcm = w.readframes(w.getnframes())
    step = int(RATE * FRAME_SECS) * 2
    return [pcm[i : i + step] for i in range(0, len(pcm) - step + 1, step)]


class Recorder:
    """Due times of sent frames and the lags measured at the sinks."""

    def __init__(self) -> None:
        self.due: dict[int, float] = {}
        self.lags: list[float] = []
        self.received = 0
        self.measure_from = 0.0

    def arrived(self, frame_id: int, now: float) -> None:
        due = self.due.pop(frame_id, None)
        if due is not None:
            self.received += 1
            if due >= self.measure_from:
                self.lags.append(now - due)


async def _drive(
    senders: list[Callable[[bytes], Awaitable[int]]],
    recorder: Recorder,
    secs: float,
) -> int:
    """Send one frame per session every 20 ms, sessions spread evenly over the 20 ms period."""
    chunks = _chunks()
    loop = asyncio.get_running_loop()
    n = len(senders)
    total = int(secs / FRAME_SECS)
    t0 = loop.time() + 0.2
    recorder.measure_from = t0 + WARMUP_SECS
    phase = [FRAME_SECS * i / n for i in range(n)]
    offset = [(i * 37) % len(chunks) for i in range(n)]
    sent = [0] * n
    count = 0
    while True:
        now = loop.time()
        pending = False
        for i in range(n):
            while sent[i] < total and t0 + phase[i] + sent[i] * FRAME_SECS <= now:
                due = t0 + phase[i] + sent[i] * FRAME_SECS
                frame_id = await senders[i](chunks[(offset[i] + sent[i]) % len(chunks)])
                recorder.due[frame_id] = due
                sent[i] += 1
                count += 1
            pending = pending or sent[i] < total
        if not pending:
            return count
        await asyncio.sleep(0.002)


class Verdicts:
    """When the end-of-turn model was asked and when each verdict came back (``--turn``)."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder  # questions asked in its warm-up are not measured
        self.waits: list[float] = []
        self.asked = 0
        self.answered = 0
        self.abandoned = 0

    def wrap(self, cls: type, clock: Callable[[], float]) -> None:
        """Time every ``analyze_end_of_turn`` of ``cls`` (the frameworks' own analyzer class,
        so both are measured the same way, around the same call their processors make)."""
        original = cls.analyze_end_of_turn  # type: ignore[attr-defined]
        verdicts = self

        async def timed(analyzer: object) -> object:
            asked = clock()
            measured = asked >= verdicts.recorder.measure_from
            verdicts.asked += measured
            try:
                result = await original(analyzer)
            except asyncio.CancelledError:
                if measured:
                    verdicts.abandoned += 1
                    if clock() - asked > VERDICT_P99_SECS:
                        verdicts.waits.append(clock() - asked)
                raise
            if measured:
                verdicts.answered += 1
                verdicts.waits.append(clock() - asked)
            return result

        cls.analyze_end_of_turn = timed  # type: ignore[attr-defined]

    def summary(self) -> dict[str, object]:
        waits = sorted(self.waits)

        def pct(p: float) -> float | None:
            return (
                round(waits[min(len(waits) - 1, int(p * len(waits)))] * 1000, 1) if waits else None
            )

        p50, p99 = pct(0.5), pct(0.99)
        unanswered = self.asked - self.answered - self.abandoned
        return {
            "verdicts_asked": self.asked,
            "verdicts_answered": self.answered,
            "verdicts_abandoned": self.abandoned,
            "verdicts_unanswered": unanswered,
            "verdict_p50_ms": p50,
            "verdict_p99_ms": p99,
            "verdicts_keep_up": bool(
                self.answered
                and not unanswered
                and p50 is not None
                and p99 is not None
                and p50 <= VERDICT_P50_SECS * 1000
                and p99 <= VERDICT_P99_SECS * 1000
            ),
        }


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _summary(
    recorder: Recorder,
    sent: int,
    n: int,
    wall: float,
    cpu: float,
    verdicts: Verdicts | None = None,
) -> dict[str, object]:
    lags = sorted(recorder.lags)
    lost = sent - recorder.received

    def pct(p: float) -> float:
        return lags[min(len(lags) - 1, int(p * len(lags)))] * 1000 if lags else float("inf")

    p99 = pct(0.99) if not lost else float("inf")
    turn = verdicts.summary() if verdicts is not None else {}
    return {
        "sessions": n,
        "frames_sent": sent,
        "frames_missing": lost,
        "p50_ms": round(pct(0.5), 2),
        "p99_ms": round(p99, 2),
        "max_ms": round(lags[-1] * 1000, 2) if lags else None,
        "keeps_up": p99 < 100.0 and not lost and turn.get("verdicts_keep_up", True),
        "audio_keeps_up": p99 < 100.0 and not lost,
        **turn,
        "max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "wall_secs": round(wall, 1),
        # CPU time the process used per second of one session's audio: robust to other load
        # on a shared machine, unlike lag; 1 / this is the sessions one core could carry.
        "cpu_ms_per_session_sec": round(cpu / (n * sent / n * FRAME_SECS) * 1000, 3),
        "sessions_per_core_by_cpu": int(sent * FRAME_SECS / cpu) if cpu else None,
    }


async def run_vani(n: int, secs: float) -> dict[str, object]:
    from vani.audio.vad import VADProcessor
    from vani.frames import EndFrame, Frame, FrameDirection, InputAudioRawFrame
    from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
    from vani.processors import FrameProcessor

    recorder = Recorder()
    loop = asyncio.get_running_loop()

    class Sink(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, InputAudioRawFrame):
                recorder.arrived(frame.id, loop.time())
            await self.push_frame(frame, direction)

    verdicts = None
    if TURN:
        from vani.audio.turn import SmartTurnAnalyzer

        verdicts = Verdicts(recorder)
        verdicts.wrap(SmartTurnAnalyzer, loop.time)

    def vad() -> VADProcessor:
        if not TURN:
            return VADProcessor()
        return VADProcessor(turn_analyzer=SmartTurnAnalyzer())

    tasks = [
        PipelineTask(
            Pipeline([vad(), Sink()]),
            params=PipelineParams(audio_in_sample_rate=RATE, allow_interruptions=True),
        )
        for _ in range(n)
    ]

    def sender(task: PipelineTask) -> Callable[[bytes], Awaitable[int]]:
        async def send(pcm: bytes) -> int:
            frame = InputAudioRawFrame(audio=pcm, sample_rate=RATE, num_channels=1)
            await task.queue_frame(frame)
            return frame.id

        return send

    runner = PipelineRunner(handle_sigint=False)
    runs = [asyncio.create_task(runner.run(t)) for t in tasks]
    await asyncio.sleep(0.5)
    start, cpu0 = time.perf_counter(), _cpu()
    sent = await _drive([sender(t) for t in tasks], recorder, secs)
    await asyncio.sleep(DRAIN_SECS)
    wall, cpu = time.perf_counter() - start, _cpu() - cpu0
    for t in tasks:
        await t.queue_frame(EndFrame())
    await asyncio.wait_for(asyncio.gather(*runs), 60)
    return _summary(recorder, sent, n, wall, cpu, verdicts)


async def run_pipecat(n: int, secs: float) -> dict[str, object]:
    from loguru import logger

    logger.remove()  # pipecat logs every VAD edge at DEBUG; logging is not what is measured
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import EndFrame, Frame, InputAudioRawFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.audio.vad_processor import VADProcessor
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.workers.runner import WorkerRunner

    recorder = Recorder()
    loop = asyncio.get_running_loop()

    class Sink(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, InputAudioRawFrame):
                recorder.arrived(frame.id, loop.time())
            await self.push_frame(frame, direction)

    verdicts = None
    if TURN:
        from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn

        verdicts = Verdicts(recorder)
        verdicts.wrap(BaseSmartTurn, loop.time)

    def steps() -> list[FrameProcessor]:
        if not TURN:
            return [VADProcessor(vad_analyzer=SileroVADAnalyzer()), Sink()]
        from pipecat.audio.vad.vad_analyzer import VADParams
        from pipecat.processors.aggregators.llm_context import LLMContext
        from pipecat.processors.aggregators.llm_response_universal import LLMUserAggregator

        # Pipecat's default user turn strategies stop turns with LocalSmartTurnAnalyzerV3, one
        # model per aggregator, after a VAD with a 0.2 s stop.
        return [
            VADProcessor(vad_analyzer=SileroVADAnalyzer(params=VADParams(stop_secs=0.2))),
            LLMUserAggregator(LLMContext()),
            Sink(),
        ]

    workers = [
        PipelineWorker(
            Pipeline(steps()),
            params=PipelineParams(audio_in_sample_rate=RATE),
            enable_rtvi=False,
            enable_turn_tracking=False,
            idle_timeout_secs=None,
            check_dangling_tasks=False,
        )
        for _ in range(n)
    ]

    def sender(worker: PipelineWorker) -> Callable[[bytes], Awaitable[int]]:
        async def send(pcm: bytes) -> int:
            frame = InputAudioRawFrame(audio=pcm, sample_rate=RATE, num_channels=1)
            await worker.queue_frame(frame)
            return int(frame.id)

        return send

    runner = WorkerRunner(handle_sigint=False, check_dangling_tasks=False)
    await runner.add_workers(*workers)
    run = asyncio.create_task(runner.run())
    await asyncio.sleep(1.0 + n * 0.02)
    start, cpu0 = time.perf_counter(), _cpu()
    sent = await _drive([sender(w) for w in workers], recorder, secs)
    await asyncio.sleep(DRAIN_SECS)
    wall, cpu = time.perf_counter() - start, _cpu() - cpu0
    for w in workers:
        await w.queue_frame(EndFrame())
    await asyncio.wait_for(run, 60)
    return _summary(recorder, sent, n, wall, cpu, verdicts)


def micro_pipecat() -> dict[str, object]:
    """Pipecat's analyzer cost per window, its bare model run, and RSS per analyzer."""
    import statistics

    import numpy as np
    import psutil
    from loguru import logger

    logger.remove()
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    with wave.open(str(SPEECH), "rb") as w:
        pcm = w.readframes(w.getnframes())
    windows = [pcm[i : i + 1024] for i in range(0, len(pcm) - 1023, 1024)]
    analyzer = SileroVADAnalyzer(sample_rate=RATE)
    analyzer.set_sample_rate(RATE)  # what the pipeline's StartFrame would do
    session = analyzer._model.session
    feed = {
        "input": np.zeros((1, 576), np.float32),
        "state": np.zeros((2, 1, 128), np.float32),
        "sr": np.array(RATE, dtype=np.int64),
    }

    def median_us(fn: Callable[[int], object], rounds: int = 2000) -> float:
        times = []
        for k in range(rounds):
            t = time.perf_counter()
            fn(k)
            times.append(time.perf_counter() - t)
        return statistics.median(times) * 1e6

    analyzer_us = median_us(lambda k: analyzer._run_analyzer(windows[k % len(windows)]))
    bare_us = median_us(lambda k: session.run(None, feed))
    proc = psutil.Process()
    gc.collect()
    before = proc.memory_info().rss
    many = [SileroVADAnalyzer(sample_rate=RATE) for _ in range(20)]
    for a in many:
        a.set_sample_rate(RATE)
        for w in windows[:60]:
            a._run_analyzer(w)
    gc.collect()
    per = (proc.memory_info().rss - before) / len(many) / 2**20
    return {
        "framework": "pipecat",
        "analyzer_us_per_window": round(analyzer_us, 1),
        "bare_run_us": round(bare_us, 1),
        "added_us_per_window": round(analyzer_us - bare_us, 1),
        "rss_per_analyzer_mib": round(per, 2),
    }


def _one(framework: str, n: int, secs: float) -> dict[str, object]:
    cmd = [
        "taskset", "-c", "0",
        PIPECAT_PYTHON if framework == "pipecat" else sys.executable,
        __file__, "--framework", framework, "--sessions", str(n), "--secs", str(secs),
    ] + (["--turn"] if TURN else [])  # fmt: skip
    # vani children import the vani this process imported (source tree or installed wheel).
    import vani

    root = ROOT if framework == "pipecat" else Path(vani.__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode or not lines:
        return {"sessions": n, "keeps_up": False, "error": out.stderr[-400:]}
    result: dict[str, object] = json.loads(lines[-1])
    return result


def search(framework: str, secs: float, start: int, log: Callable[[str], None]) -> int:
    """Largest N that keeps up: grow by 1.5× until a run falls behind, then bisect to ~5 %."""
    good, bad = 0, 0
    n = start
    while not bad:
        r = _one(framework, n, secs)
        log(json.dumps({"framework": framework, **r}))
        if r["keeps_up"]:
            good, n = n, int(n * 1.5)
        else:
            bad = n
    if not good:
        lo, hi = 1, bad
    else:
        lo, hi = good, bad
    while hi - lo > max(2, lo // 20):
        mid = (lo + hi) // 2
        r = _one(framework, mid, secs)
        log(json.dumps({"framework": framework, **r}))
        lo, hi = (mid, hi) if r["keeps_up"] else (lo, mid)
    return lo


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--framework", choices=["vani", "pipecat"], default="vani")
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--secs", type=float, default=20.0)
    ap.add_argument("--search", action="store_true", help="find the largest N for both")
    ap.add_argument("--pipecat-micro", action="store_true", help="Pipecat analyzer micro figures")
    ap.add_argument("--only", choices=["vani", "pipecat"], help="with --search: one framework")
    ap.add_argument("--turn", action="store_true", help="add the end-of-turn model")
    ap.add_argument("--start", type=int, help="with --search: the first N to try")
    args = ap.parse_args()
    global TURN
    TURN = args.turn
    if args.pipecat_micro:
        print(json.dumps(micro_pipecat()))
        return
    if args.search:
        found = {}
        for fw, start in (("pipecat", 20), ("vani", 200)):
            if args.only and fw != args.only:
                continue
            start = args.start or (start // 4 if TURN else start)
            found[fw] = search(fw, args.secs, start, lambda s: print(s, flush=True))
        print(json.dumps({"largest_keeping_up": found}), flush=True)
        return
    gc.freeze()  # the audio and model objects live for the whole run
    run = run_vani if args.framework == "vani" else run_pipecat
    result = asyncio.run(run(args.sessions, args.secs))
    print(json.dumps({"framework": args.framework, "turn": TURN, **result}))


if __name__ == "__main__":
    main()
