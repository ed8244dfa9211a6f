"""Pipecat's analyzers beside vani's drop-in ones, on the same audio; run by Pipecat's Python.

    $VANI_PIPECAT_PYTHON tests/contrib/pipecat_checks.py CHECK WAV... > result.json

CHECK is ``vad`` (utterances found by each VAD inside a real Pipecat pipeline), ``resample``
(each resampler's output), ``turn`` (the turns each analyzer ends), ``shared`` (many concurrent
Pipecat tasks, counting the ONNX calls) or ``imports`` (what importing the adapters imports).
Prints one JSON object; tests/contrib/test_pipecat_adapters.py judges it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import wave
from typing import Any

import numpy as np


def read_wav(path: str) -> tuple[bytes, int]:
    with wave.open(path, "rb") as w:
        return w.readframes(w.getnframes()), w.getframerate()


def chunks(pcm: bytes, rate: int, ms: int = 20) -> list[bytes]:
    n = rate * ms // 1000 * 2
    return [pcm[i : i + n] for i in range(0, len(pcm), n)]


async def vad_edges(analyzer: Any, pcm: bytes, rate: int) -> list[list[float]]:
    """Start and stop times (s) of each utterance the analyzer finds in a Pipecat pipeline."""
    from pipecat.frames.frames import (
        InputAudioRawFrame,
        VADUserStartedSpeakingFrame,
        VADUserStoppedSpeakingFrame,
    )
    from pipecat.pipeline.task import PipelineParams
    from pipecat.processors.audio.vad_processor import VADProcessor
    from pipecat.tests.utils import run_test

    silence = bytes(rate * 2)  # a second of silence closes the last utterance
    frames = [
        InputAudioRawFrame(audio=c, sample_rate=rate, num_channels=1)
        for c in chunks(pcm + silence, rate)
    ]
    down, _ = await run_test(
        VADProcessor(vad_analyzer=analyzer),
        frames_to_send=frames,
        pipeline_params=PipelineParams(audio_in_sample_rate=rate),
    )
    edges: list[list[float]] = []
    seen = 0
    for frame in down:
        if isinstance(frame, InputAudioRawFrame):
            seen += 1
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            edges.append([seen * 0.02])
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and edges:
            edges[-1].append(seen * 0.02)
    return edges


async def check_vad(paths: list[str]) -> dict[str, Any]:
    from pipecat.audio.vad.silero import SileroVADAnalyzer as Theirs

    from vani.contrib.pipecat import SileroVADAnalyzer as Ours

    out: dict[str, Any] = {}
    for path in paths:
        pcm, rate = read_wav(path)
        out[path] = {
            "pipecat": await vad_edges(Theirs(), pcm, rate),
            "vani": await vad_edges(Ours(), pcm, rate),
        }
    return out


async def check_shared(paths: list[str]) -> dict[str, Any]:
    import vani.audio.silero as silero
    from vani.contrib.pipecat import SileroVADAnalyzer as Ours

    calls = {"runs": 0, "windows": 0}
    real = silero.run_silero

    def counting(inputs: Any, state: Any, sample_rate: int) -> Any:
        calls["runs"] += 1
        calls["windows"] += len(inputs)
        return real(inputs, state, sample_rate)

    silero.run_silero = counting
    pcm, rate = read_wav(paths[0])
    tasks = 24
    results = await asyncio.gather(*(vad_edges(Ours(), pcm, rate) for _ in range(tasks)))
    return {"tasks": tasks, "edges": results, **calls}


async def resample_all(resampler: Any, pcm: bytes, rin: int, rout: int) -> bytes:
    out = b"".join([await resampler.resample(c, rin, rout) for c in chunks(pcm, rin)])
    return out + await resampler.flush()


async def check_resample(paths: list[str]) -> dict[str, Any]:
    import soxr
    from pipecat.audio.resamplers.soxr_stream_resampler import SOXRStreamAudioResampler as Theirs

    from vani.contrib.pipecat import SOXRStreamAudioResampler as Ours

    out: dict[str, Any] = {}
    for path in paths:
        pcm16, rate = read_wav(path)
        assert rate == 16000
        pairs = [(16000, 8000), (8000, 16000), (16000, 24000), (24000, 16000), (48000, 16000)]
        for rin, rout in pairs:
            x = np.frombuffer(pcm16, dtype=np.int16)
            if rin != 16000:  # the same speech at the input rate, by soxr once
                x = soxr.resample(x, 16000, rin, quality="VHQ").astype(np.int16)
            src = x.tobytes()
            # clear_after_secs=None: the chunks come faster than real time, no gap is meant.
            theirs = await resample_all(Theirs(clear_after_secs=None), src, rin, rout)
            ours = await resample_all(Ours(clear_after_secs=None), src, rin, rout)
            out.setdefault(path, {})[f"{rin}->{rout}"] = {
                "pipecat": theirs.hex(),
                "vani": ours.hex(),
            }
    return out


async def turn_ends(analyzer: Any, pcm: bytes, rate: int, speech: list[bool]) -> list[float]:
    """Times (s) at which the analyzer ends a turn, driven as Pipecat's turn strategy drives it:
    every chunk with the VAD's verdict, and a question to the model when the VAD stops."""
    from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState

    analyzer.set_sample_rate(rate)
    ends: list[float] = []
    was = False
    for i, c in enumerate(chunks(pcm, rate)):
        t = (i + 1) * 0.02
        if analyzer.append_audio(c, speech[i]) == EndOfTurnState.COMPLETE:
            ends.append(round(t, 2))
        elif was and not speech[i]:
            state, _ = await analyzer.analyze_end_of_turn()
            if state == EndOfTurnState.COMPLETE:
                ends.append(round(t, 2))
        was = speech[i]
    return ends


async def speech_of(path: str) -> tuple[bytes, int, list[bool]]:
    """A file's audio with four seconds of silence after it (the cap ends any open turn), and
    Pipecat's Silero verdict on each 20 ms of it."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADState

    pcm, rate = read_wav(path)
    pcm += bytes(rate * 2 * 4)
    vad = SileroVADAnalyzer(sample_rate=rate)
    vad.set_sample_rate(rate)
    speech = [await vad.analyze_audio(c) == VADState.SPEAKING for c in chunks(pcm, rate)]
    return pcm, rate, speech


async def check_turn(paths: list[str]) -> dict[str, Any]:
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import (
        LocalSmartTurnAnalyzerV3 as Theirs,
    )

    from vani.contrib.pipecat import LocalSmartTurnAnalyzerV3 as Ours

    out: dict[str, Any] = {}
    for path in paths:
        pcm, rate, speech = await speech_of(path)
        theirs = Theirs()
        out[path] = {
            "pipecat": await turn_ends(theirs, pcm, rate, speech),
            "vani": await turn_ends(Ours(), pcm, rate, speech),
        }
    return out


async def check_turn_model_path(paths: list[str]) -> dict[str, Any]:
    # A Pipecat bot that names its model file (here Pipecat's own copy) and its threads.
    import importlib.resources

    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import (
        LocalSmartTurnAnalyzerV3 as Theirs,
    )

    import vani.audio.turn as vani_turn
    from vani.contrib.pipecat import LocalSmartTurnAnalyzerV3 as Ours
    from vani.errors import ConfigurationError

    model = str(
        importlib.resources.files("pipecat.audio.turn.smart_turn.data") / "smart-turn-v3.2-cpu.onnx"
    )
    pcm, rate, speech = await speech_of(paths[0])
    ours = Ours(smart_turn_model_path=model, cpu_count=2)
    out: dict[str, Any] = {
        "model": model,
        "pipecat": await turn_ends(Theirs(smart_turn_model_path=model), pcm, rate, speech),
        "vani": await turn_ends(ours, pcm, rate, speech),
        "loaded": [vani_turn._settings.model_path, vani_turn._settings.threads],
    }
    try:
        Ours(cpu_count=1)
    except ConfigurationError as exc:
        out["refused"] = str(exc)
    return out


def check_imports(_: list[str]) -> dict[str, Any]:
    before = {m for m in sys.modules if m.startswith("pipecat")}
    import vani.contrib.pipecat

    after_package = {m for m in sys.modules if m.startswith("pipecat")} - before
    _ = vani.contrib.pipecat.SOXRStreamAudioResampler
    after_resampler = {m for m in sys.modules if m.startswith("pipecat")} - before
    return {"package": sorted(after_package), "resampler": sorted(after_resampler)}


def main() -> None:
    check, paths = sys.argv[1], sys.argv[2:]
    from loguru import logger

    logger.remove()
    if check == "imports":
        result = check_imports(paths)
    else:
        result = asyncio.run(globals()[f"check_{check}"](paths))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
