"""The load generator of ``live_calls.py``: N callers over WebSocket, in a process of their own.

    python benchmarks/live_load.py --ws-url ws://127.0.0.1:8790/ws --calls 20 --turns 3
    python benchmarks/live_load.py --start-url http://127.0.0.1:8790/start --calls 20

Each caller opens a WebSocket (after ``POST /start`` when ``--start-url`` is given, Pipecat's
runner convention: the answer's ``wsUrl`` and ``token``), speaks Pipecat's protobuf framing
(``live_wire.py``), sends RTVI ``client-ready`` and waits for ``bot-ready``, then streams 20 ms
frames of real speech (``tests/fixtures/speech/speech_16k.wav``) in real time: each turn is
one of the fixture's two utterances followed by ``--silence`` seconds of silence, in which
the bot answers. Frame ``j`` of a call is sent when its last sample has been "recorded",
``t0 + 20 ms × (j + 1)``, on one driver loop for all calls (not a timer per call).
Calls start spread evenly over ``--ramp`` seconds, so their turns do not line up.

Everything is measured on this process's clock (``loop.time()``), per turn:

* end of speech: the moment the utterance's last sample was spoken (known exactly from the
  fixture's annotations: ``t0 + sample / 16000``);
* ``user-stopped-speaking``: when that RTVI message arrived (the server's turn end);
* first bot audio: when the first audio frame of the reply arrived;
* output lag of every reply frame: how late it arrived against the reply's real-time schedule
  anchored at its first frame (``arrival − (first + audio before it)``, 0 when early);
* gaps: a simulated player starts the reply at its first frame and plays it back-to-back;
  an underrun of ``GAP_SECS`` or more (the player had nothing to play) is a gap the caller hears.

Prints one JSON line with the summary (and, with ``--raw``, every turn).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))

import live_wire

SPEECH = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "speech" / "speech_16k.wav"
RATE = 16000
FRAME_SECS = 0.02
FRAME_SAMPLES = int(RATE * FRAME_SECS)
LEAD_SECS = 0.3  # silence before each utterance
GAP_SECS = 0.02  # an underrun of one frame or more is audible
READY_TIMEOUT = 30.0


SETTLE_SECS = 2.0  # after the last call is ready, before measuring


@dataclass(slots=True)
class Turn:
    speech_start: float  # when its first frame was due
    end_of_speech: float
    window_end: float  # when the next turn's first frame is due (or the call ends)
    measured: bool  # it began inside the measurement window (after the ramp)


@dataclass(slots=True)
class Script:
    """One cycle of a caller's audio: both utterances, each followed by silence."""

    frames: list[bytes]
    turn_first: dict[int, int]  # frame index in the cycle -> turn number in the cycle
    turn_eos: list[int]  # end-of-speech sample offset in the cycle, per turn


@dataclass(slots=True)
class Window:
    """When measuring starts and when calls stop starting new turns (loop time)."""

    measure_from: float = float("inf")
    end_at: float = float("inf")
    all_started: bool = False


@dataclass(slots=True)
class Call:
    index: int
    ws: ClientConnection | None = None
    t0: float = 0.0
    sent: int = 0
    done: bool = False
    ended_at: float = 0.0
    turns: list[Turn] = field(default_factory=list)
    audio: list[tuple[float, float]] = field(default_factory=list)  # (arrival, seconds)
    events: list[tuple[float, str]] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    connect_secs: float | None = None
    ready_secs: float | None = None
    error: str | None = None
    interruption_frames: int = 0
    rtvi_errors: list[str] = field(default_factory=list)
    closed_by_server: bool = False


def _script(silence_secs: float) -> Script:
    """The protobuf messages of one cycle of turns and where each turn starts and ends."""
    with wave.open(str(SPEECH), "rb") as w:
        pcm = w.readframes(w.getnframes())
    meta = json.loads(SPEECH.with_suffix(".json").read_text())
    step = FRAME_SAMPLES * 2
    frames: list[bytes] = []
    script = Script(frames=frames, turn_first={}, turn_eos=[])
    silence = live_wire.audio_message(bytes(step), RATE)
    for k, segment in enumerate(meta["segments"]):
        first = int((segment["start_secs"] - LEAD_SECS) * RATE) // FRAME_SAMPLES * FRAME_SAMPLES
        end_sample = int(segment["end_secs"] * RATE)
        stop = -(-end_sample // FRAME_SAMPLES) * FRAME_SAMPLES
        script.turn_first[len(frames)] = k
        chunk = pcm[first * 2 : stop * 2]
        frames.extend(
            live_wire.audio_message(chunk[i : i + step], RATE) for i in range(0, len(chunk), step)
        )
        script.turn_eos.append(len(frames) * FRAME_SAMPLES - (stop - end_sample))
        frames.extend([silence] * int(silence_secs / FRAME_SECS))
    return script


async def _http_post_json(url: str, body: dict[str, object]) -> dict[str, object]:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port or 80)
    payload = json.dumps(body).encode()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
        + payload
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, data = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if status != 200:
        raise RuntimeError(f"POST {url} answered {status}: {data[:200]!r}")
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = bytearray(), data
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if not size:
                break
            out += rest[:size]
            rest = rest[size + 2 :]
        data = bytes(out)
    result: dict[str, object] = json.loads(data)
    return result


async def _receive(call: Call, loop: asyncio.AbstractEventLoop) -> None:
    assert call.ws is not None
    with contextlib.suppress(Exception):
        async for data in call.ws:
            now = loop.time()
            kind, value = live_wire.parse(data)
            if kind == "audio":
                pcm, rate, channels = value
                call.audio.append((now, len(pcm) / 2 / rate / channels))
            elif kind in ("message", "text") and isinstance(value, dict):
                event = str(value.get("type"))
                call.events.append((now, event))
                if event == "bot-ready":
                    call.ready.set()
                elif event in ("error", "error-response"):
                    call.rtvi_errors.append(json.dumps(value.get("data"))[:200])
            elif kind == "interruption":
                call.interruption_frames += 1
    call.closed_by_server = True


async def _open(
    call: Call, args: argparse.Namespace, loop: asyncio.AbstractEventLoop
) -> asyncio.Task[None] | None:
    began = loop.time()
    try:
        url = args.ws_url
        if args.start_url:
            answer = await _http_post_json(args.start_url, {"transport": "websocket"})
            url = str(answer["wsUrl"])
            token = answer.get("token")
            if token and "token=" not in url:
                url += ("&" if "?" in url else "?") + f"token={token}"
        call.ws = await connect(
            url, max_size=None, compression=None, ping_interval=None, open_timeout=READY_TIMEOUT
        )
        call.connect_secs = loop.time() - began
        receiver = asyncio.create_task(_receive(call, loop))
        await call.ws.send(live_wire.client_ready())
        await asyncio.wait_for(call.ready.wait(), READY_TIMEOUT)
        call.ready_secs = loop.time() - began
        return receiver
    except Exception as exc:
        call.error = f"{type(exc).__name__}: {exc}"[:300]
        return None


async def _drive(
    calls: list[Call], script: Script, window: Window, loop: asyncio.AbstractEventLoop
) -> None:
    """Send every due frame of every streaming call, cycling through the script; a call ends
    at the first turn boundary past ``window.end_at``. Returns when all calls are done."""
    cycle = len(script.frames)
    cycle_samples = cycle * FRAME_SAMPLES
    while True:
        now = loop.time()
        pending = not window.all_started
        for call in calls:
            if not call.t0 or call.error is not None or call.done:
                continue
            pending = True
            ws = call.ws
            assert ws is not None
            while True:
                j = call.sent
                due = call.t0 + FRAME_SECS * (j + 1)
                if due > now:
                    break
                k = script.turn_first.get(j % cycle)
                if k is not None:
                    if due >= window.end_at:
                        call.done, call.ended_at = True, due
                        if call.turns:
                            call.turns[-1].window_end = due
                        break
                    if call.turns:
                        call.turns[-1].window_end = due
                    eos = call.t0 + ((j // cycle) * cycle_samples + script.turn_eos[k]) / RATE
                    measured = due >= window.measure_from
                    call.turns.append(Turn(due, eos, float("inf"), measured))
                try:
                    await ws.send(script.frames[j % cycle])
                except Exception as exc:
                    call.error = f"send failed: {type(exc).__name__}: {exc}"[:300]
                    break
                call.sent += 1
        if not pending:
            return
        await asyncio.sleep(0.004)


async def _loop_lag(samples: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t = loop.time()
        await asyncio.sleep(0.01)
        samples.append(loop.time() - t - 0.01)


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


COUNTERS = (
    "calls",
    "calls_failed",
    "turns",
    "turns_answered",
    "warmup_turns",
    "warmup_turns_answered",
    "replies_short",
    "audio_before_end_of_speech",
    "interruption_frames",
    "rtvi_errors",
)
SERIES = ("lags", "gaps", "v2v", "framework", "connect", "ready")


def collect(calls: list[Call], expected_reply_secs: float | None) -> dict[str, object]:
    """The raw samples of a run: counters and series (seconds), mergeable across processes."""
    series: dict[str, list[float]] = {name: [] for name in SERIES}
    counts = dict.fromkeys(COUNTERS, 0)
    counts["calls"] = len(calls)
    failures: set[str] = set()
    rtvi_errors: set[str] = set()
    for call in calls:
        counts["interruption_frames"] += call.interruption_frames
        counts["rtvi_errors"] += len(call.rtvi_errors)
        rtvi_errors.update(call.rtvi_errors)
        if call.error is not None or not call.turns:
            counts["calls_failed"] += 1
            failures.add(call.error or "no turns")
            continue
        if call.connect_secs is not None:
            series["connect"].append(call.connect_secs)
        if call.ready_secs is not None:
            series["ready"].append(call.ready_secs)
        stops = [t for t, e in call.events if e == "user-stopped-speaking"]
        for turn in call.turns:
            window = [(t, d) for t, d in call.audio if turn.speech_start <= t < turn.window_end]
            if not turn.measured:  # began during the ramp: counted, not measured
                counts["warmup_turns"] += 1
                counts["warmup_turns_answered"] += any(t >= turn.end_of_speech for t, _ in window)
                continue
            counts["turns"] += 1
            counts["audio_before_end_of_speech"] += sum(
                1 for t, _ in window if t < turn.end_of_speech
            )
            reply = [(t, d) for t, d in window if t >= turn.end_of_speech]
            if not reply:
                continue
            counts["turns_answered"] += 1
            first = reply[0][0]
            series["v2v"].append(first - turn.end_of_speech)
            turn_stops = [t for t in stops if turn.end_of_speech <= t <= first]
            if turn_stops:
                series["framework"].append(first - turn_stops[-1])
            played = 0.0
            play_end = first
            for t, d in reply:
                series["lags"].append(max(0.0, t - (first + played)))
                if t - play_end >= GAP_SECS:
                    series["gaps"].append(t - play_end)
                play_end = max(play_end, t) + d
                played += d
            if expected_reply_secs and played < expected_reply_secs * 0.95:
                counts["replies_short"] += 1
    return {
        "counts": counts,
        "series": series,
        "failures": sorted(failures)[:5],
        "rtvi_error_samples": sorted(rtvi_errors)[:3],
    }


def merge(parts: list[dict[str, object]]) -> dict[str, object]:
    """The samples of several load generators as one run's."""
    counts = dict.fromkeys(COUNTERS, 0)
    series: dict[str, list[float]] = {name: [] for name in SERIES}
    failures: set[str] = set()
    errors: set[str] = set()
    for part in parts:
        for name, value in part["counts"].items():  # type: ignore[attr-defined]
            counts[name] += value
        for name, values in part["series"].items():  # type: ignore[attr-defined]
            series[name].extend(values)
        failures.update(part["failures"])  # type: ignore[arg-type]
        errors.update(part["rtvi_error_samples"])  # type: ignore[arg-type]
    return {
        "counts": counts,
        "series": series,
        "failures": sorted(failures)[:5],
        "rtvi_error_samples": sorted(errors)[:3],
    }


def summarise(samples: dict[str, object]) -> dict[str, object]:
    """Percentiles (ms) and the verdict: every call answered, p99 lag < 100 ms, no gap."""
    counts: dict[str, int] = samples["counts"]  # type: ignore[assignment]
    series: dict[str, list[float]] = samples["series"]  # type: ignore[assignment]
    lags, gaps = series["lags"], series["gaps"]
    p99_lag = _pct(lags, 0.99)
    return {
        **counts,
        "failures": samples["failures"],
        "rtvi_error_samples": samples["rtvi_error_samples"],
        "reply_frames": len(lags),
        "lag_p50_ms": _ms(_pct(lags, 0.5)),
        "lag_p99_ms": _ms(p99_lag),
        "lag_max_ms": _ms(max(lags) if lags else None),
        "gaps": len(gaps),
        "gap_max_ms": _ms(max(gaps) if gaps else None),
        "eos_to_first_audio_p50_ms": _ms(_pct(series["v2v"], 0.5)),
        "eos_to_first_audio_p99_ms": _ms(_pct(series["v2v"], 0.99)),
        "framework_p50_ms": _ms(_pct(series["framework"], 0.5)),
        "framework_p99_ms": _ms(_pct(series["framework"], 0.99)),
        "framework_samples": len(series["framework"]),
        "connect_p50_ms": _ms(_pct(series["connect"], 0.5)),
        "bot_ready_p50_ms": _ms(_pct(series["ready"], 0.5)),
        "bot_ready_p99_ms": _ms(_pct(series["ready"], 0.99)),
        "keeps_up": bool(
            counts["calls"]
            and not counts["calls_failed"]
            and counts["turns"]
            and counts["turns_answered"] == counts["turns"]
            and p99_lag is not None
            and p99_lag < 0.1
            and not gaps
        ),
    }


async def run(args: argparse.Namespace) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    script = _script(args.silence)
    calls = [Call(index=i) for i in range(args.calls)]
    window = Window()
    lag_samples: list[float] = []
    stop_lag = asyncio.Event()
    lag_task = asyncio.create_task(_loop_lag(lag_samples, stop_lag))
    began = loop.time()
    receivers: list[asyncio.Task[None]] = []

    async def start(call: Call) -> None:
        await asyncio.sleep(args.ramp * call.index / max(1, args.calls))
        receiver = await _open(call, args, loop)
        if receiver is not None:
            receivers.append(receiver)
            call.t0 = loop.time()

    starters = [asyncio.create_task(start(c)) for c in calls]
    driver = asyncio.create_task(_drive(calls, script, window, loop))
    await asyncio.gather(*starters)
    started = [c.t0 for c in calls if c.t0]
    window.measure_from = (max(started) if started else loop.time()) + SETTLE_SECS
    window.end_at = window.measure_from + args.secs
    window.all_started = True
    ramp_secs = loop.time() - began
    await asyncio.sleep(max(0.0, window.measure_from - loop.time()))
    cpu0 = time.process_time()
    _mark("measure_start")
    await asyncio.sleep(max(0.0, window.end_at - loop.time()))
    _mark("measure_end")
    cpu = time.process_time() - cpu0
    await driver
    await asyncio.sleep(0.3)  # the last reply frames in flight
    for call in calls:
        if call.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(call.ws.close(), 2.0)
    for receiver in receivers:
        receiver.cancel()
    await asyncio.gather(*receivers, return_exceptions=True)
    stop_lag.set()
    await lag_task
    samples = collect(calls, args.expected_reply_secs or None)
    summary = summarise(samples)
    summary.update(
        {
            "measured_secs": args.secs,
            "ramp_secs": round(ramp_secs, 2),
            "loadgen_cpu_pct": round(100 * cpu / args.secs, 1),
            "loadgen_loop_lag_p99_ms": _ms(_pct(lag_samples, 0.99)),
            "loadgen_loop_lag_max_ms": _ms(max(lag_samples) if lag_samples else None),
            "loadgen_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }
    )
    if args.samples:
        summary["samples"] = samples
    if args.raw:
        summary["raw"] = [
            {
                "call": c.index,
                "error": c.error,
                "turns": [
                    [t.speech_start, t.end_of_speech, t.window_end, t.measured] for t in c.turns
                ],
                "audio": c.audio,
                "events": c.events,
            }
            for c in calls
        ]
    return summary


def _mark(event: str) -> None:
    """Tell the orchestrator (reading stdout) that the measurement window opens or closes."""
    print(json.dumps({"event": event}), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    target = ap.add_mutually_exclusive_group(required=True)
    target.add_argument("--ws-url", help="connect here directly")
    target.add_argument("--start-url", help="POST here first; connect to the answer's wsUrl")
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--secs", type=float, default=30.0, help="measured seconds, after the ramp")
    ap.add_argument("--silence", type=float, default=4.0, help="seconds after each utterance")
    ap.add_argument("--ramp", type=float, default=5.0, help="calls start spread over this")
    ap.add_argument("--expected-reply-secs", type=float, default=0.0)
    ap.add_argument("--samples", action="store_true", help="also print the raw samples")
    ap.add_argument("--raw", action="store_true", help="also print every call's timeline")
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    main()
