"""Browser → bot → browser latency, measured by vani's web client on the page's own clock.

A real Chromium (Debian's, through playwright) opens vani's page against a server on
127.0.0.1; its fake microphone plays a WAV of caller turns separated by silence long enough for
each reply. For every turn the page records the time from the user's end of speech (its last
voiced 20 ms microphone frame) to the first bot audio played out (the playback worklet's start,
mapped to the page clock at the speaker). Two bots:

* ``offline``: ``vani serve --offline`` (Silero VAD, Whisper tiny.en, the scripted pizza
  dialogue, Piper), the newcomer's first call;
* ``fakes``: ``vani run benchmarks/browser_fakes_bot.py`` (Silero VAD, then STT, LLM and TTS
  that answer at once), which leaves vani's own share: the VAD's ``stop_secs`` wait, the
  pipeline, pacing, the socket and the page's jitter buffer.

    python benchmarks/browser_latency.py                 # both bots, 5 turns each
    python benchmarks/browser_latency.py --quick         # the fakes bot, 2 turns
    python benchmarks/browser_latency.py --bot offline --turns 5 --json out.json

Needs Debian's chromium and playwright (the test extra). No test asserts on these times.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import wave
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vani.demo import demo_call_path
from vani.testing.browser import ServerProcess, chromium_args, find_chromium, write_wav

HERE = Path(__file__).parent
FAKES_BOT = HERE / "browser_fakes_bot.py"
# Silence after each caller turn: longer than the bot's reply, so turns do not overlap.
GAP_SECS = {"offline": 11.0, "fakes": 3.5}


@dataclass
class Result:
    bot: str
    turns_asked: int
    latencies_ms: list[float] = field(default_factory=list)
    median_ms: float | None = None
    # The same turns split where the server's user-stopped-speaking reached the page: the VAD's
    # silence wait (and the socket) before it, the bot's reply after it.
    median_until_server_said_stopped_ms: float | None = None
    median_after_server_said_stopped_ms: float | None = None
    vad_stop_secs: float = 0.8
    # Playback underruns while the bot was speaking (the page's jitter buffer ran dry).
    gaps: int = 0
    gap_ms: float = 0.0
    seconds: float = 0.0


def _caller_turns() -> list[bytes]:
    """The demo caller's turns (16 kHz PCM), cut from the shipped WAV at its edges."""
    path = demo_call_path()
    meta = json.loads(path.with_suffix(".json").read_text())
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    return [
        pcm[2 * round(t["start_secs"] * rate) : 2 * round(t["end_secs"] * rate)]
        for t in meta["turns"]
    ]


def compose_caller(path: Path, turns: int, gap_secs: float) -> Path:
    speech = _caller_turns()
    pieces: list[bytes | float] = [1.0]
    for i in range(turns):
        pieces += [speech[i % len(speech)], gap_secs]
    return write_wav(path, pieces)


def measure(bot: str, turns: int, workdir: Path, *, verbose: bool = True) -> Result:
    from playwright.sync_api import sync_playwright

    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("browser_latency: Debian's chromium is not installed")
    gap = GAP_SECS[bot]
    # One more turn than measured: the first call loads the models (Whisper, Piper) and its
    # first reply is not counted.
    wav = compose_caller(workdir / f"caller-{bot}.wav", turns + 1, gap)
    args = ["serve", "--offline"] if bot == "offline" else ["run", str(FAKES_BOT)]
    result = Result(bot=bot, turns_asked=turns)
    with (
        ServerProcess(args, log_path=workdir / f"server-{bot}.log") as server,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(
            executable_path=chromium, headless=True, args=chromium_args(wav)
        )
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(server.url + "/?reconnect=0")
            started = time.monotonic()
            page.click("#connect")
            page.wait_for_function("window.vani.client.state === 'ready'", timeout=120_000)
            deadline = started + 30 + (turns + 1) * (gap + 4) * 1.5
            while time.monotonic() < deadline:
                done = page.evaluate("window.vani.client.stats.latencies.length")
                if done >= turns + 1:
                    break
                time.sleep(0.25)
            measured = page.evaluate("window.vani.client.stats.latencies")[1:]
            parts = page.evaluate("window.vani.client.stats.latencyParts")[1 : turns + 1]
            result.latencies_ms = [round(x, 1) for x in measured]
            if parts:
                until = [p["untilServerSaidStopped"] for p in parts]
                after = [p["afterServerSaidStopped"] for p in parts]
                result.median_until_server_said_stopped_ms = round(statistics.median(until), 1)
                result.median_after_server_said_stopped_ms = round(statistics.median(after), 1)
            result.seconds = round(time.monotonic() - started, 1)
            result.gaps = int(page.evaluate("window.vani.client.stats.gaps"))
            result.gap_ms = round(float(page.evaluate("window.vani.client.stats.gapMs")), 1)
            page.screenshot(path=str(workdir / f"browser-latency-{bot}.png"))
        finally:
            browser.close()
    if result.latencies_ms:
        result.median_ms = round(statistics.median(result.latencies_ms[:turns]), 1)
        result.latencies_ms = result.latencies_ms[:turns]
    if verbose:
        print(
            f"{bot:8s} turns {len(result.latencies_ms)}/{turns}  median {result.median_ms} ms"
            f" (until the server said the user stopped"
            f" {result.median_until_server_said_stopped_ms} ms, after it"
            f" {result.median_after_server_said_stopped_ms} ms)  each {result.latencies_ms}"
            f"  playback gaps {result.gaps} ({result.gap_ms} ms)",
            flush=True,
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bot", choices=["offline", "fakes", "both"], default="both")
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="the fakes bot, 2 turns")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--keep", type=Path, default=None, help="keep WAVs, logs, screenshots")
    args = parser.parse_args(argv)
    bots = ["fakes"] if args.quick else (["offline", "fakes"] if args.bot == "both" else [args.bot])
    turns = 2 if args.quick else args.turns
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        results = [measure(bot, turns, workdir) for bot in bots]
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    short = [r for r in results if len(r.latencies_ms) < r.turns_asked]
    return 1 if short else 0


if __name__ == "__main__":
    sys.exit(main())
