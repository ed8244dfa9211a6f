"""The load generator of ``phone_calls.py``: N Twilio calls placed by
``vani.testing.TelephonySimulator`` (the provider and the caller), each dialling the server's
webhook, opening the media stream and speaking a real telephone recording in real time, turn
after turn, with the line open (silent) in between. Runs in its own process.

    python benchmarks/phone_load.py --url http://127.0.0.1:PORT --calls 10 --turns 2 \
        [--auth-token T] [--json out.json]

Per call it reports, on its own clock (``time.monotonic()``, shared with the server's probe):
when the first ``media`` message went out; each bot response's audio lag (arrival of each
chunk against the response's first chunk plus the audio before it: its maximum and 99th
percentile) and gaps (the handset ran dry mid-response); how many turns were answered and how
fast (caller's end of speech to the first bot audio). The process also reports its own event
loop's lag (a 50 ms sleep's overshoot, p99 and max), so a run where the load generator itself
fell behind can be told apart from one where the server did.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from vani.testing import TelephonySimulator
from vani.testing.telephony import SimEvent, load_caller_audio
from vani.testing.telephony_wire import SimCall

HERE = Path(__file__).resolve().parent
SPEECH = HERE.parent / "tests" / "fixtures" / "telephone" / "tt-weasels.wav"
GAP_SECS = 0.25  # a pause this long between bot chunks starts a new response
TURN_SECS = 7.0  # speech, then silence, per turn


def responses(media: list[SimEvent]) -> list[list[SimEvent]]:
    out: list[list[SimEvent]] = []
    for e in media:
        if out and e.t - (out[-1][-1].t) < GAP_SECS:
            out[-1].append(e)
        else:
            out.append([e])
    return out


def analyse(
    sim: TelephonySimulator, speech_ends: list[float], gap_secs: float = 0.02
) -> dict[str, object]:
    lags: list[float] = []
    gaps = 0
    for resp in responses(sim.of("media")):
        t0, played = resp[0].t, 0.0
        play_end = t0
        for e in resp:
            lags.append(max(0.0, e.t - (t0 + played)))
            if e is not resp[0] and e.t > play_end + gap_secs:
                gaps += 1
            play_end = max(play_end, e.t) + e.secs
            played += e.secs
    ordered = sorted(lags)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else 0.0
    first_audio = [e.t for e in sim.of("media")]
    answers = []
    for end in speech_ends:
        after = [t for t in first_audio if t > end]
        if after:
            answers.append(after[0] - end)
    return {
        "call_id": sim.call.call_id,
        "first_media_at": sim.first_media_at,
        "max_lag": max(lags, default=0.0),
        "p99_lag": p99,
        "lags": sorted(lags)[-5:],
        "gaps": gaps,
        "answers": answers,
        "audio_secs": sim.received_audio_secs,
        "closed_early": sim.closed.is_set(),
    }


async def one_call(
    url: str, index: int, turns: int, token: str, start_delay: float, gap_secs: float
) -> dict[str, object]:
    await asyncio.sleep(start_delay)
    speech = load_caller_audio(SPEECH)
    turn = speech + bytes(int(8000 * (TURN_SECS - len(speech) / 16000)) * 2)
    call = SimCall(call_id=f"CA{index:032d}", stream_id=f"MZ{index:032d}")
    sim = TelephonySimulator("twilio", url, call=call, twilio_auth_token=token)
    await sim.dial_in()
    await sim.connect()
    speech_ends = []
    try:
        for _ in range(turns):
            t_turn = sim.now()
            speech_ends.append(t_turn + len(speech) / 16000)
            await sim.play(turn)
    finally:
        result = analyse(sim, speech_ends, gap_secs)
        await sim.hang_up()
    return result


async def _loop_lag(samples: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        before = loop.time()
        await asyncio.sleep(0.05)
        samples.append(max(0.0, loop.time() - before - 0.05))


async def run(
    url: str, calls: int, turns: int, token: str, ramp_secs: float, gap_secs: float
) -> tuple[list[object], list[float]]:
    lag: list[float] = []
    monitor = asyncio.get_running_loop().create_task(_loop_lag(lag))
    tasks = [
        one_call(url, i, turns, token, ramp_secs * i / max(1, calls), gap_secs)
        for i in range(calls)
    ]
    results = await asyncio.gather(*tasks, return_exceptions=True)
    monitor.cancel()
    out = [r if not isinstance(r, BaseException) else {"error": repr(r)} for r in results]
    return out, sorted(lag)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--calls", type=int, default=2)
    ap.add_argument("--turns", type=int, default=1)
    ap.add_argument("--auth-token", default="")
    ap.add_argument("--ramp-secs", type=float, default=1.0)
    ap.add_argument("--gap-ms", type=float, default=20.0, help="an underrun this long is a gap")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    started = time.monotonic()
    results, lag = asyncio.run(
        run(args.url, args.calls, args.turns, args.auth_token, args.ramp_secs, args.gap_ms / 1000)
    )
    out = {
        "started": started,
        "ended": time.monotonic(),
        "calls": results,
        "loop_lag_p99_ms": round(1000 * lag[int(0.99 * (len(lag) - 1))], 1) if lag else None,
        "loop_lag_max_ms": round(1000 * lag[-1], 1) if lag else None,
    }
    text = json.dumps(out)
    if args.json:
        Path(args.json).write_text(text)
    else:
        sys.stdout.write(text + "\n")


if __name__ == "__main__":
    main()
