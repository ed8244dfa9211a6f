"""vani's own page in real Chromium against a real server: a whole call, both framings,
barge-in, reconnect, refusal and session timeout. Screenshots land in the test's tmp dir."""

from __future__ import annotations

import json
import math
import time
import urllib.request
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vani.demo import demo_call_path
from vani.testing.browser import ServerProcess, write_wav

SPEECH = Path(__file__).parent.parent / "fixtures" / "speech" / "speech_16k.wav"

# The fakes bot's fixed transcript and reply (benchmarks/browser_fakes_bot.py).
FAKE_TRANSCRIPT = "I would like a large pepperoni pizza."
FAKE_REPLY = "Sure, one large pepperoni."
# The server's output chunk: 40 ms (TransportParams.audio_out_10ms_chunks = 4).
CHUNK_MS = 40.0


def _stats(page: Any) -> dict[str, Any]:
    return dict(page.evaluate("window.vani.client.stats"))


def _bot_rms(stats: dict[str, Any]) -> float:
    played = stats["botPlayedSamples"]
    return math.sqrt(stats["botSumSquares"] / played) if played else 0.0


def _texts(page: Any, selector: str) -> list[str]:
    return [str(t) for t in page.locator(selector).all_inner_texts()]


def _silence_wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "silence.wav", [1.0])


def _one_utterance_wav(
    tmp_path: Path, repeats: int = 1, gap_secs: float = 4.0, lead_secs: float = 0.5
) -> Path:
    """ "Please book a table for two." (from the speech fixture), `repeats` times, each followed
    by silence long enough for the bot's whole reply."""
    meta = json.loads(SPEECH.with_suffix(".json").read_text())
    first = meta["segments"][0]
    with wave.open(str(SPEECH)) as wav:
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    speech = pcm[2 * round(first["start_secs"] * rate) : 2 * round(first["end_secs"] * rate)]
    pieces: list[bytes | float] = [lead_secs]
    for _ in range(repeats):
        pieces += [speech, gap_secs]
    return write_wav(tmp_path / "caller.wav", pieces, sample_rate=rate)


def _barge_in_caller(tmp_path: Path) -> Path:
    """The demo caller's first two turns: the order, then, 9 s in, "A large pepperoni,
    please." over the bot's welcome (7.7 s of speech that starts 0.5–4.5 s after the first turn
    ends, however loaded the machine), then silence for the reply."""
    path = demo_call_path()
    turns = json.loads(path.with_suffix(".json").read_text())["turns"]
    with wave.open(str(path)) as wav:
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes())

    def cut(turn: dict[str, Any]) -> bytes:
        return pcm[2 * round(turn["start_secs"] * rate) : 2 * round(turn["end_secs"] * rate)]

    first, second = cut(turns[0]), cut(turns[1])
    lead = 0.5
    # 9 s: the welcome (7.7 s of speech) still plays 0.6 s later (the interruption gate's wait)
    # whether it started 0.5 s or 4.5 s after the order.
    gap = 9.0 - lead - len(first) / (2 * rate)
    return write_wav(tmp_path / "caller.wav", [lead, first, gap, second, 12.0], sample_rate=rate)


@pytest.mark.slow
def test_whole_offline_call_in_the_page(
    launch_browser: Callable[..., Any],
    vani_server: Callable[..., ServerProcess],
    open_page: Callable[..., Any],
    artifacts: Path,
    tmp_path: Path,
) -> None:
    """Silero + Whisper + Piper + the scripted pizza brain behind `vani serve`; the caller's
    second turn talks over the bot's long welcome (a barge-in)."""
    server = vani_server(["serve", "--offline"])
    browser = launch_browser(_barge_in_caller(tmp_path))
    page, watch = open_page(browser, server.url)
    page.screenshot(path=str(artifacts / "1-before-call.png"))
    page.click("#connect")
    page.wait_for_function("window.vani.client.state === 'ready'", timeout=60_000)
    # The first reply is on screen and being heard.
    page.wait_for_selector(".entry.bot", timeout=90_000)
    page.screenshot(path=str(artifacts / "2-first-reply.png"))
    # The barge-in (second caller turn) and the reply after it.
    page.wait_for_function("window.vani.client.stats.bargeIns.length >= 1", timeout=90_000)
    page.wait_for_function(
        "window.vani.client.stats.bargeIns.every(b => b.staleMs !== null)"
        " && window.vani.client.stats.latencies.length >= 2"
        " && window.vani.client.stats.messages.includes('bot-output')",
        timeout=90_000,
    )
    # The barge-in's words: on a loaded machine they can come after the bot, hearing nothing
    # in time, took its welcome back up (docs/turn-taking.md); they then cut it again.
    page.wait_for_function(
        "[...document.querySelectorAll('.entry.user')]"
        ".some(e => e.textContent.toLowerCase().includes('pepperoni'))",
        timeout=90_000,
    )
    page.screenshot(path=str(artifacts / "3-after-barge-in.png"))
    stats = _stats(page)

    users = _texts(page, ".entry.user")
    assert any("pizza" in u.lower() for u in users), users
    assert any("pepperoni" in u.lower() for u in users), users
    # The bot's words as spoken. A sentence cut by the barge-in is not shown (it was not
    # heard), so on a slow machine the welcome may be missing; the reply after it is there.
    bots = " ".join(_texts(page, ".entry.bot"))
    assert "Welcome to Vani Pizza" in bots or "One large pepperoni" in bots, bots
    # Bot audio really played in the page, at speech level.
    assert stats["botPlayedSamples"] > 48000 * 0.5
    assert _bot_rms(stats) > 0.02, stats
    # The barge-in cut the bot while it was speaking and nothing stale played after it: the
    # speaker went quiet within one chunk.
    barge = stats["bargeIns"][0]
    assert barge["staleMs"] <= CHUNK_MS, barge
    print(f"barge-in: {barge}; latencies (ms): {[round(x) for x in stats['latencies']]}")
    assert stats["latencies"] and all(x > 0 for x in stats["latencies"])
    assert page.locator("#latency-median").inner_text().endswith("ms")
    assert watch.unexpected() == []


def test_raw_framing_call_with_zero_latency_fakes(
    launch_browser: Callable[..., Any],
    vani_server: Callable[..., ServerProcess],
    open_page: Callable[..., Any],
    artifacts: Path,
    tmp_path: Path,
    fakes_bot: Path,
) -> None:
    """`?framing=raw`: PCM binary messages, RTVI as JSON text, against `vani run`."""
    server = vani_server(["run", str(fakes_bot)])
    browser = launch_browser(_one_utterance_wav(tmp_path, repeats=2))
    page, watch = open_page(browser, server.url + "/?framing=raw")
    page.click("#connect")
    page.wait_for_function("window.vani.client.state === 'ready'", timeout=30_000)
    assert page.evaluate("window.vani.client.framing.name") == "raw"
    page.wait_for_function("window.vani.client.stats.latencies.length >= 2", timeout=30_000)
    page.wait_for_function(
        "window.vani.client.stats.messages.filter(t => t === 'bot-stopped-speaking').length >= 2",
        timeout=10_000,
    )
    page.screenshot(path=str(artifacts / "raw-call.png"))
    stats = _stats(page)
    assert FAKE_TRANSCRIPT in _texts(page, ".entry.user")
    bots = _texts(page, ".entry.bot")
    assert sum(FAKE_REPLY in b for b in bots) == 2, bots
    assert page.locator(".entry.bot.interrupted").count() == 0
    # The fake's tone (amplitude 0.2: RMS 0.141) comes out at its level: the rate was right.
    assert _bot_rms(stats) == pytest.approx(0.2 / math.sqrt(2), rel=0.15)
    assert stats["messages"][0] == "bot-ready"
    assert watch.unexpected() == []


def test_page_reconnects_after_the_server_restarts(
    launch_browser: Callable[..., Any],
    vani_server: Callable[..., ServerProcess],
    open_page: Callable[..., Any],
    artifacts: Path,
    tmp_path: Path,
    fakes_bot: Path,
) -> None:
    server = vani_server(["run", str(fakes_bot)])
    browser = launch_browser(_silence_wav(tmp_path))
    page, watch = open_page(browser, server.url)
    page.click("#connect")
    page.wait_for_function("window.vani.client.state === 'ready'", timeout=30_000)

    server.stop()
    page.wait_for_function("window.vani.client.state === 'reconnecting'", timeout=10_000)
    page.screenshot(path=str(artifacts / "reconnecting.png"))
    assert "Reconnecting" in page.locator("#banner-text").inner_text()
    time.sleep(1.0)  # the server stays down for a while: the page keeps trying
    server.start()
    page.wait_for_function(
        "window.vani.client.state === 'ready' && window.vani.client.stats.sessions === 2",
        timeout=30_000,
    )
    page.screenshot(path=str(artifacts / "reconnected.png"))
    assert page.locator("#banner").is_hidden()
    assert "Reconnected" in page.locator(".entry.note").last.inner_text()
    assert watch.unexpected("Failed to load resource", "WebSocket connection") == []


def test_a_full_server_is_explained_in_plain_words(
    launch_browser: Callable[..., Any],
    vani_server: Callable[..., ServerProcess],
    open_page: Callable[..., Any],
    artifacts: Path,
    tmp_path: Path,
    fakes_bot: Path,
) -> None:
    server = vani_server(["run", str(fakes_bot), "--max-calls", "1"])
    browser = launch_browser(_silence_wav(tmp_path))
    first, _ = open_page(browser, server.url)
    first.click("#connect")
    first.wait_for_function("window.vani.client.state === 'ready'", timeout=30_000)

    second, watch = open_page(browser, server.url)
    second.click("#connect")
    second.wait_for_selector("#banner:not([hidden])", timeout=10_000)
    second.screenshot(path=str(artifacts / "server-full.png"))
    assert "server is full" in second.locator("#banner-text").inner_text()
    assert second.evaluate("window.vani.client.state") == "idle"
    assert second.locator("#connect").inner_text() == "Connect"
    assert watch.unexpected("503") == []
    # The first call is untouched.
    assert first.evaluate("window.vani.client.state") == "ready"


def test_an_idle_page_ends_cleanly_at_the_session_timeout(
    launch_browser: Callable[..., Any],
    vani_server: Callable[..., ServerProcess],
    open_page: Callable[..., Any],
    artifacts: Path,
    tmp_path: Path,
    fakes_bot: Path,
) -> None:
    server = vani_server(["run", str(fakes_bot), "--session-timeout", "3"])
    browser = launch_browser(_silence_wav(tmp_path))
    page, watch = open_page(browser, server.url)
    page.click("#connect")
    page.wait_for_function("window.vani.client.state === 'ready'", timeout=30_000)
    page.wait_for_function("window.vani.client.state === 'ended'", timeout=20_000)
    page.screenshot(path=str(artifacts / "session-timeout.png"))
    assert "session time limit" in page.locator("#banner-text").inner_text()
    assert page.locator("#connect").inner_text() == "Connect"
    # The page let go of the microphone and did not try to reconnect.
    assert page.evaluate("window.vani.client.audio.running") is False
    time.sleep(1.5)
    assert page.evaluate("window.vani.client.stats.sessions") == 1
    assert _health(server)["active_calls"] == 0
    assert watch.unexpected() == []


def test_mute_silences_the_caller_and_disconnect_ends_the_call(
    launch_browser: Callable[..., Any],
    vani_server: Callable[..., ServerProcess],
    open_page: Callable[..., Any],
    tmp_path: Path,
    fakes_bot: Path,
) -> None:
    server = vani_server(["run", str(fakes_bot)])
    # Speech starts 3 s in: the page is muted by then.
    browser = launch_browser(_one_utterance_wav(tmp_path, lead_secs=3.0))
    page, watch = open_page(browser, server.url)
    page.click("#connect")
    page.wait_for_function("window.vani.client.state === 'ready'", timeout=30_000)
    page.click("#mute")
    assert page.locator("#mute").get_attribute("aria-pressed") == "true"
    page.wait_for_timeout(6000)  # the utterance plays into the muted microphone
    stats = _stats(page)
    assert "user-started-speaking" not in stats["messages"]
    assert stats["framesSent"] > 100  # muted audio is silence, still sent
    assert _health(server)["active_calls"] == 1

    page.click("#connect")  # now "Disconnect"
    page.wait_for_function("window.vani.client.state === 'idle'", timeout=5000)
    assert page.evaluate("window.vani.client.audio.running") is False
    deadline = time.monotonic() + 10
    while _health(server)["active_calls"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _health(server)["active_calls"] == 0
    assert page.locator("#banner").is_hidden()
    assert watch.unexpected() == []


def _health(server: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(server.url + "/health", timeout=5) as response:
        return dict(json.loads(response.read()))


def test_typed_text_reaches_the_bot_and_its_spoken_reply_is_shown(
    launch_browser: Callable[..., Any],
    vani_server: Callable[..., ServerProcess],
    open_page: Callable[..., Any],
    tmp_path: Path,
    fakes_bot: Path,
) -> None:
    server = vani_server(["run", str(fakes_bot)])
    browser = launch_browser(_silence_wav(tmp_path))
    page, watch = open_page(browser, server.url)
    page.click("#connect")
    page.wait_for_function("window.vani.client.state === 'ready'", timeout=30_000)
    page.fill("#typed-text", "Do you deliver to Park Street?")
    page.click("#typed button[type=submit]")
    page.wait_for_function(
        "window.vani.client.stats.messages.includes('bot-stopped-speaking')", timeout=15_000
    )
    assert "Do you deliver to Park Street?" in _texts(page, ".entry.user")
    assert any(FAKE_REPLY in b for b in _texts(page, ".entry.bot"))
    assert _bot_rms(_stats(page)) > 0.05
    assert watch.unexpected() == []
