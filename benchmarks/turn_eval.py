"""Turn-taking on real speech: a VAD alone (0.8 s stop) against the smart-turn model.

The set (``tests/fixtures/turn``, built by its ``build.py`` from Debian packages; no one here
recorded it):

* complete turns — telephone prompts (Allison Smith, 8 kHz) that are whole sentences, LibriVox
  readings (16 kHz, with their natural pauses) and the synthetic fixtures (espeak, Piper);
* turns with a pause mid-utterance, two kinds, each with a pause of known length (0.4, 0.7 or
  1.0 s): real sentences (the prompts and readings above that hold one sentence) split at their
  longest quiet gap between 30 % and 75 % of their length, so the speech before the pause has the
  speaker's own mid-sentence prosody; and IVR fragments joined ("you are currently caller
  number" + pause + "three"), which the voice recorded one by one, each read as a whole
  utterance — the hard case for a model that listens to prosody;
* noise clips — white and pink noise, a cough-like burst, a door slam (sox).

Each case is 0.5 s of line noise (-60 dBFS), the audio, then 4 s of line noise, sent as 20 ms
frames through ``VADProcessor`` (at the clip's own rate) with and without the turn model. For each
case: the time from the true end of speech to ``UserStoppedSpeakingFrame`` (end of turn); a
cut-off when the turn ended before the speech did; for noise, whether the VAD reported the user
speaking (a barge-in, if the bot was talking) and whether the interruption gates let it through.

    PYTHONPATH=. python benchmarks/turn_eval.py            # the whole set, a markdown table
    PYTHONPATH=. python benchmarks/turn_eval.py --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
TURN = ROOT / "tests" / "fixtures" / "turn"
SPEECH = ROOT / "tests" / "fixtures" / "speech"
LEAD_SECS = 0.5
TAIL_SECS = 4.0
PART_GAP_SECS = 0.12
PAUSES = (0.4, 0.7, 1.0)
FRAME_SECS = 0.02
GATES = (0.3, 0.5)  # InterruptionGate min_duration_secs while the bot speaks


@dataclass
class Case:
    name: str
    kind: str  # "complete", "split", "paused" or "noise"
    source: str
    rate: int
    audio: npt.NDArray[np.int16]
    speech_end: float  # stream seconds
    pause: tuple[float, float] | None = None  # the mid-turn pause, stream seconds


@dataclass
class Outcome:
    case: Case
    stops: list[float] = field(default_factory=list)  # UserStoppedSpeakingFrame times
    starts: list[float] = field(default_factory=list)  # UserStartedSpeakingFrame times
    speech_secs: float = 0.0  # VAD-detected speech before the first stop

    @property
    def end_of_turn(self) -> float | None:
        after = [t for t in self.stops if t >= self.case.speech_end - 0.05]
        return after[0] - self.case.speech_end if after else None

    @property
    def cut_off(self) -> bool:
        return any(t < self.case.speech_end - 0.05 for t in self.stops)


def _read(path: Path) -> tuple[npt.NDArray[np.int16], int]:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16), w.getframerate()


def _silence(secs: float, rate: int, rng: np.random.Generator) -> npt.NDArray[np.int16]:
    level = 32768 * 10 ** (-60 / 20)
    return (rng.standard_normal(int(secs * rate)) * level).astype(np.int16)


def _join(parts: list[npt.NDArray[np.int16]], rate: int, rng: np.random.Generator) -> npt.NDArray:
    out: list[npt.NDArray[np.int16]] = []
    for i, p in enumerate(parts):
        if i:
            out.append(_silence(PART_GAP_SECS, rate, rng))
        out.append(p)
    return np.concatenate(out)


def _speech_cases(rng: np.random.Generator) -> list[Case]:
    manifest = json.loads((TURN / "manifest.json").read_text())
    cases: list[Case] = []
    for clip in manifest["complete"]:
        pcm, rate = _read(TURN / f"{clip}.wav")
        audio = np.concatenate(
            [_silence(LEAD_SECS, rate, rng), pcm, _silence(TAIL_SECS, rate, rng)]
        )
        source = "LibriVox (16 kHz)" if clip.startswith("librivox") else "telephone (8 kHz)"
        cases.append(Case(clip, "complete", source, rate, audio, LEAD_SECS + len(pcm) / rate))
    for i, turn in enumerate(manifest["paused"]):
        first = [_read(TURN / f"{c}.wav") for c in turn["first"]]
        rest = [_read(TURN / f"{c}.wav") for c in turn["rest"]]
        rate = first[0][1]
        a = _join([p for p, _ in first], rate, rng)
        b = _join([p for p, _ in rest], rate, rng)
        for pause in PAUSES:
            lead = _silence(LEAD_SECS, rate, rng)
            audio = np.concatenate(
                [lead, a, _silence(pause, rate, rng), b, _silence(TAIL_SECS, rate, rng)]
            )
            pause_start = LEAD_SECS + len(a) / rate
            cases.append(
                Case(
                    f"paused-{i}-{pause}",
                    "paused",
                    "telephone (8 kHz)",
                    rate,
                    audio,
                    pause_start + pause + len(b) / rate,
                    (pause_start, pause_start + pause),
                )
            )
    for clip in manifest["complete"]:
        text = manifest["clips"][clip]["text"].strip(". ")
        if any(mark in text for mark in (". ", "! ", "? ", "...")):
            continue  # more than one sentence: a pause at the split may be a turn's end
        pcm, rate = _read(TURN / f"{clip}.wav")
        cut = _split_point(pcm, rate)
        if cut is None:
            continue
        for pause in PAUSES:
            a, b = pcm[:cut], pcm[cut:]
            audio = np.concatenate(
                [
                    _silence(LEAD_SECS, rate, rng),
                    a,
                    _silence(pause, rate, rng),
                    b,
                    _silence(TAIL_SECS, rate, rng),
                ]
            )
            pause_start = LEAD_SECS + len(a) / rate
            source = (
                "split sentence (LibriVox)"
                if clip.startswith("librivox")
                else ("split sentence (telephone)")
            )
            cases.append(
                Case(
                    f"split-{clip}-{pause}",
                    "split",
                    source,
                    rate,
                    audio,
                    pause_start + pause + len(b) / rate,
                    (pause_start, pause_start + pause),
                )
            )
    for name in ("speech_16k", "piper_16k"):
        pcm, rate = _read(SPEECH / f"{name}.wav")
        meta = json.loads((SPEECH / f"{name}.json").read_text())
        for j, seg in enumerate(meta["segments"]):
            s, e = int(seg["start_secs"] * rate), int(seg["end_secs"] * rate)
            audio = np.concatenate(
                [_silence(LEAD_SECS, rate, rng), pcm[s:e], _silence(TAIL_SECS, rate, rng)]
            )
            src = "synthetic (espeak, Piper)"
            cases.append(
                Case(f"{name}-{j}", "complete", src, rate, audio, LEAD_SECS + (e - s) / rate)
            )
    return cases


def _split_point(pcm: npt.NDArray[np.int16], rate: int) -> int | None:
    """The middle of the longest quiet gap (10 ms frames under -40 dBFS, at least 30 ms) between
    30 % and 75 % of the clip, in samples; None for clips under 2 s or without such a gap."""
    hop = rate // 100
    n = len(pcm) // hop
    if n < 200:
        return None
    frames = pcm[: n * hop].astype(np.float64).reshape(n, hop)
    quiet = np.sqrt((frames**2).mean(axis=1)) < 32768 * 10 ** (-40 / 20)
    best: tuple[int, int] | None = None
    i = int(n * 0.3)
    while i < int(n * 0.75):
        if quiet[i]:
            j = i
            while j < n and quiet[j]:
                j += 1
            if j - i >= 3 and (best is None or j - i > best[1] - best[0]):
                best = (i, j)
            i = j
        else:
            i += 1
    return None if best is None else (best[0] + best[1]) // 2 * hop


def _noise_cases(rng: np.random.Generator) -> list[Case]:
    manifest = json.loads((TURN / "manifest.json").read_text())
    cases = []
    # Short words (0.3-0.6 s, like a "mm-hm" or "haan" said over the bot): real speech that
    # should not take the turn from a speaking bot.
    for clip in sorted(manifest["clips"]):
        if clip.startswith("asterisk/digits/"):
            pcm, rate = _read(TURN / f"{clip}.wav")
            audio = np.concatenate([_silence(LEAD_SECS, rate, rng), pcm, _silence(2.0, rate, rng)])
            cases.append(Case(clip, "short", "short word", rate, audio, 0.0))
    for name in manifest["noise"]:
        for k in (8, 16):
            pcm, rate = _read(TURN / "noise" / f"{name}_{k}k.wav")
            audio = np.concatenate([_silence(LEAD_SECS, rate, rng), pcm, _silence(2.0, rate, rng)])
            cases.append(Case(f"{name}-{k}k", "noise", f"noise ({name})", rate, audio, 0.0))
    return cases


async def _run_case(case: Case, make: Callable[[], object]) -> Outcome:
    from vani.frames import (
        Frame,
        InputAudioRawFrame,
        UserStartedSpeakingFrame,
        UserStoppedSpeakingFrame,
        VADUserStartedSpeakingFrame,
        VADUserStoppedSpeakingFrame,
    )
    from vani.pipeline import PipelineParams
    from vani.testing import run_test

    step = int(case.rate * FRAME_SECS) * 2
    pcm = case.audio.tobytes()
    frames: list[Frame] = [
        InputAudioRawFrame(audio=pcm[i : i + step], sample_rate=case.rate)
        for i in range(0, len(pcm), step)
    ]
    processor = make()
    down, _ = await run_test(
        processor,  # type: ignore[arg-type]
        frames_to_send=frames,
        params=PipelineParams(audio_in_sample_rate=case.rate),
        timeout_secs=120,
    )
    out = Outcome(case)
    t = 0.0
    vad_start: float | None = None
    for f in down:
        if isinstance(f, InputAudioRawFrame):
            t += len(f.audio) / 2 / f.sample_rate
        elif isinstance(f, UserStoppedSpeakingFrame):
            out.stops.append(t)
        elif isinstance(f, UserStartedSpeakingFrame):
            out.starts.append(t)
        elif isinstance(f, VADUserStartedSpeakingFrame):
            vad_start = f.timestamp
        elif isinstance(f, VADUserStoppedSpeakingFrame) and vad_start is not None:
            out.speech_secs += max(0.0, f.timestamp - vad_start)
            vad_start = None
    return out


def modes() -> dict[str, Callable[[], object]]:
    from vani.audio.turn import SmartTurnAnalyzer, SmartTurnParams
    from vani.audio.vad import VADParams, VADProcessor

    return {
        "VAD only, stop 0.8 s (today)": lambda: VADProcessor(params=VADParams()),
        "VAD only, stop 0.2 s": lambda: VADProcessor(params=VADParams(stop_secs=0.2)),
        "turn model, Pipecat's settings (threshold 0.5, all the silence, cap 3 s)": (
            lambda: VADProcessor(
                turn_analyzer=SmartTurnAnalyzer(
                    params=SmartTurnParams(threshold=0.5, trailing_secs=None, stop_secs=3.0)
                ),
                turn_inline=True,
            )
        ),
        "turn model, vani's defaults (threshold 0.9, no silence, cap 1.5 s)": (
            lambda: VADProcessor(turn_analyzer=SmartTurnAnalyzer(), turn_inline=True)
        ),
        "the same with VAD stop 0.3 s": lambda: VADProcessor(
            params=VADParams(stop_secs=0.3), turn_analyzer=SmartTurnAnalyzer(), turn_inline=True
        ),
    }


async def evaluate(
    cases: list[Case], mode_names: list[str] | None = None, concurrency: int = 8
) -> dict[str, list[Outcome]]:
    all_modes = modes()
    results: dict[str, list[Outcome]] = {}
    for name, make in all_modes.items():
        if mode_names and name not in mode_names:
            continue
        sem = asyncio.Semaphore(concurrency)

        async def one(
            case: Case, make: Callable[[], object] = make, sem: asyncio.Semaphore = sem
        ) -> Outcome:
            async with sem:
                return await _run_case(case, make)

        results[name] = list(await asyncio.gather(*(one(c) for c in cases)))
    return results


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return float(np.percentile(values, q))


def summarize(results: dict[str, list[Outcome]]) -> list[dict[str, object]]:
    rows = []
    for mode, outcomes in results.items():
        complete = [o for o in outcomes if o.case.kind == "complete"]
        paused = [o for o in outcomes if o.case.kind == "paused"]
        split = [o for o in outcomes if o.case.kind == "split"]
        noise = [o for o in outcomes if o.case.kind == "noise"]
        short = [o for o in outcomes if o.case.kind == "short"]
        lat = [o.end_of_turn for o in complete if o.end_of_turn is not None and not o.cut_off]
        real = [
            o.end_of_turn
            for o in complete
            if o.end_of_turn is not None and not o.cut_off and "synthetic" not in o.case.source
        ]
        rows.append(
            {
                "mode": mode,
                "complete_turns": len(complete),
                "median_s": statistics.median(lat) if lat else float("nan"),
                "p90_s": _pct(lat, 90),
                "median_real_s": statistics.median(real) if real else float("nan"),
                "p90_real_s": _pct(real, 90),
                "cut_complete": sum(o.cut_off for o in complete),
                "paused_turns": len(paused),
                "cut_paused": sum(o.cut_off for o in paused),
                "cut_paused_by_pause": {
                    p: sum(o.cut_off for o in paused if o.case.pause and _plen(o) == p)
                    for p in PAUSES
                },
                "split_turns": len(split),
                "cut_split": sum(o.cut_off for o in split),
                "cut_split_by_pause": {
                    p: sum(o.cut_off for o in split if _plen(o) == p) for p in PAUSES
                },
                "noise_clips": len(noise),
                "noise_barge_ins": sum(bool(o.starts) for o in noise),
                "short_words": len(short),
                "short_barge_ins": sum(bool(o.starts) for o in short),
                # An InterruptionGate lets a barge-in through once the VAD's speech (edge to
                # edge) reaches min_duration_secs: whether these clips would.
                "short_gated": {g: sum(o.speech_secs >= g for o in short) for g in GATES},
                "noise_gated": {g: sum(o.speech_secs >= g for o in noise) for g in GATES},
            }
        )
    return rows


def _plen(o: Outcome) -> float:
    assert o.case.pause is not None
    return round(o.case.pause[1] - o.case.pause[0], 2)


def markdown(rows: list[dict[str, object]]) -> str:
    head = (
        "| mode | end of speech → end of turn, median / p90 (all complete turns) "
        "| same, real speech only | complete turns cut off "
        "| real sentences cut off at a mid-sentence pause (0.4 / 0.7 / 1.0 s) "
        "| IVR fragments cut off at the pause (0.4 / 0.7 / 1.0 s) "
        "| noise clips / short words (0.3-0.6 s) that barge in: VAD alone; gate 0.3 s; gate 0.5 s "
        "|\n|---|---|---|---|---|---|---|\n"
    )
    lines = []
    for r in rows:
        by = r["cut_paused_by_pause"]
        assert isinstance(by, dict)
        n_pause = int(r["paused_turns"]) // len(PAUSES)  # type: ignore[call-overload]
        ng, sg = r["noise_gated"], r["short_gated"]
        assert isinstance(ng, dict)
        assert isinstance(sg, dict)
        bs = r["cut_split_by_pause"]
        assert isinstance(bs, dict)
        n_split = int(r["split_turns"]) // len(PAUSES)  # type: ignore[call-overload]
        lines.append(
            f"| {r['mode']} | {r['median_s']:.2f} s / {r['p90_s']:.2f} s "
            f"| {r['median_real_s']:.2f} s / {r['p90_real_s']:.2f} s "
            f"| {r['cut_complete']} of {r['complete_turns']} "
            f"| {r['cut_split']} of {r['split_turns']} "
            f"({' / '.join(f'{bs[p]}/{n_split}' for p in PAUSES)}) "
            f"| {r['cut_paused']} of {r['paused_turns']} "
            f"({' / '.join(f'{by[p]}/{n_pause}' for p in PAUSES)}) "
            f"| {r['noise_barge_ins']}/{r['noise_clips']} / "
            f"{r['short_barge_ins']}/{r['short_words']}"
            f"; {ng[0.3]} / {sg[0.3]}; {ng[0.5]} / {sg[0.5]} |"
        )
    return head + "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", type=Path, help="write the summary and every case here")
    ap.add_argument("--limit", type=int, default=0, help="only the first N cases of each kind")
    ap.add_argument("--mode", action="append", help="only modes whose name contains this")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(2026)
    cases = _speech_cases(rng) + _noise_cases(rng)
    if args.limit:
        kinds: dict[str, int] = {}
        kept = []
        for c in cases:
            kinds[c.kind] = kinds.get(c.kind, 0) + 1
            if kinds[c.kind] <= args.limit:
                kept.append(c)
        cases = kept
    names = [m for m in modes() if not args.mode or any(k in m for k in args.mode)]
    results = asyncio.run(evaluate(cases, names))
    rows = summarize(results)
    print(markdown(rows))
    if args.json:
        detail = {
            mode: [
                {
                    "case": o.case.name,
                    "kind": o.case.kind,
                    "end_of_turn_s": o.end_of_turn,
                    "cut_off": o.cut_off,
                    "stops": o.stops,
                    "starts": o.starts,
                }
                for o in outcomes
            ]
            for mode, outcomes in results.items()
        }
        args.json.write_text(json.dumps({"summary": rows, "cases": detail}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
