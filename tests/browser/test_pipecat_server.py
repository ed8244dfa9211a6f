"""vani's page against Pipecat 1.14's own WebSocket server (protobuf framing, its RTVI), in real
Chromium: the page speaks the protocol Pipecat's clients speak, so it works with either server."""

from __future__ import annotations

import math
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import vani
from vani.testing.browser import free_port

STATIC = Path(vani.__file__).parent / "server" / "static"

SERVER = Path(__file__).parent / "pipecat_echo_server.py"
SPEECH = Path(__file__).parent.parent / "fixtures" / "speech" / "speech_16k.wav"


@pytest.fixture
def pipecat_server(tmp_path: Path) -> Iterator[str]:
    python = os.environ.get("VANI_PIPECAT_PYTHON")
    if not python:
        pytest.skip("VANI_PIPECAT_PYTHON is not set (tools/ci/setup-10-pipecat.sh sets it)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "pipecat-server.log", "wb") as log:
        process = subprocess.Popen(
            [python, str(SERVER), str(port), str(STATIC)], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "pipecat-server.log").read_text()
            try:
                with urllib.request.urlopen(url + "/", timeout=1):
                    break
            except (urllib.error.URLError, OSError):
                assert time.monotonic() < deadline, "Pipecat's server did not start"
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_vani_page_holds_a_call_with_pipecats_server(
    launch_browser: Callable[..., Any],
    open_page: Callable[..., Any],
    pipecat_server: str,
    artifacts: Path,
) -> None:
    browser = launch_browser(SPEECH)
    page, watch = open_page(browser, pipecat_server)
    page.click("#connect")
    page.wait_for_function("window.vani.client.state === 'ready'", timeout=30_000)
    ready = page.evaluate("window.vani.client.botReady")
    assert str(ready["version"]).startswith("2.")
    # Pipecat's bot echoes the caller: the page plays back the speech it sent, at its level.
    page.wait_for_function("window.vani.client.stats.botPlayedSamples > 2 * 44100", timeout=30_000)
    page.screenshot(path=str(artifacts / "pipecat-server.png"))
    stats = dict(page.evaluate("window.vani.client.stats"))
    rms = math.sqrt(stats["botSumSquares"] / stats["botPlayedSamples"])
    assert rms > 0.03, stats
    assert watch.unexpected() == []
