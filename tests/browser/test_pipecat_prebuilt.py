"""Pipecat's prebuilt web client (PyPI ``pipecat-ai-prebuilt``, unchanged) served by
``vani run --client pipecat`` in real Chromium.

The package comes from Pipecat's venv (``VANI_PIPECAT_PYTHON``, set by
tools/ci/setup-10-pipecat.sh); the server finds it the way a user's install does, on its
``sys.path`` (a directory holding only that package is put first on ``PYTHONPATH``).

Its WebSocket mode captures the microphone through Daily's media manager, which loads Daily's
call-machine bundle from Daily's CDN at run time. On a closed network that load fails before the
client posts to ``/start``, so the call itself can only run where that CDN is reachable; the
second test says so when it skips.
"""

from __future__ import annotations

import base64
import math
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vani.testing.browser import ServerProcess

BOT = Path(__file__).parent / "bots" / "offline_demo_bot.py"
DAILY_CDN = "c.daily.co"

# Records every WebSocket message the page sends and receives (the client itself is unchanged;
# this only observes the socket it opens).
TAP_WEBSOCKETS = """
(() => {
  const Original = window.WebSocket;
  const log = (window.__wsLog = { urls: [], received: [], sent: [] });
  const b64 = (buf) => {
    const u = new Uint8Array(buf);
    let s = '';
    for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
    return btoa(s);
  };
  const record = (list, data) => {
    if (typeof data === 'string') list.push({ text: data });
    else if (data instanceof ArrayBuffer) list.push({ b64: b64(data) });
    else if (ArrayBuffer.isView(data)) {
      const end = data.byteOffset + data.byteLength;
      list.push({ b64: b64(data.buffer.slice(data.byteOffset, end)) });
    } else if (data && data.arrayBuffer) {
      data.arrayBuffer().then((buf) => list.push({ b64: b64(buf) }));
    }
  };
  window.WebSocket = class extends Original {
    constructor(url, protocols) {
      super(url, protocols);
      log.urls.push(String(url));
      this.addEventListener('message', (e) => record(log.received, e.data));
    }
    send(data) {
      record(log.sent, data);
      return super.send(data);
    }
  };
})();
"""


@pytest.fixture
def prebuilt_path(tmp_path: Path) -> Path:
    """A directory whose only content is the installed ``pipecat_ai_prebuilt`` package."""
    python = os.environ.get("VANI_PIPECAT_PYTHON")
    if not python:
        pytest.skip("VANI_PIPECAT_PYTHON is not set (tools/ci/setup-10-pipecat.sh sets it)")
    found = subprocess.run(
        [
            python,
            "-c",
            "import importlib.util as u; s = u.find_spec('pipecat_ai_prebuilt');"
            " print(s.submodule_search_locations[0] if s else '')",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not found:
        pytest.skip(f"pipecat-ai-prebuilt is not installed for {python}")
    shim = tmp_path / "prebuilt-path"
    shim.mkdir()
    (shim / "pipecat_ai_prebuilt").symlink_to(found, target_is_directory=True)
    return shim


@pytest.fixture
def prebuilt_server(
    vani_server: Callable[..., ServerProcess], prebuilt_path: Path, fakes_bot: Path
) -> ServerProcess:
    pythonpath = os.pathsep.join(p for p in (str(prebuilt_path), os.environ.get("PYTHONPATH")) if p)
    return vani_server(
        ["run", str(fakes_bot), "--client", "pipecat"], env={"PYTHONPATH": pythonpath}
    )


def _open_websocket_mode(browser: Any, url: str) -> tuple[Any, list[tuple[str, str, object]]]:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.add_init_script(TAP_WEBSOCKETS)
    requests: list[tuple[str, str, object]] = []
    page.on(
        "requestfinished",
        lambda r: requests.append((r.method, r.url, r.response().status if r.response() else 0)),
    )
    page.on("requestfailed", lambda r: requests.append((r.method, r.url, r.failure)))
    page.goto(url)
    page.get_by_role("combobox").filter(has_text="SmallWebRTC").click()
    page.get_by_role("option", name="WebSocket").click()
    page.locator("[data-slot=connect-button]").click()
    return page, requests


def test_vani_serves_pipecats_prebuilt_client(
    launch_browser: Callable[..., Any], prebuilt_server: ServerProcess, artifacts: Path
) -> None:
    browser = launch_browser()
    page, requests = _open_websocket_mode(browser, prebuilt_server.url)
    # The WebSocket transport's module is loaded (lazily, once WebSocket is chosen).
    page.wait_for_function(
        "performance.getEntriesByType('resource').some(e => e.name.includes('index.module-'))"
    )
    page.wait_for_timeout(1500)
    page.screenshot(path=str(artifacts / "pipecat-prebuilt.png"))
    assert page.title() == "Pipecat UI"
    assert "Pipecat Playground" in page.locator("body").inner_text()
    ours = [r for r in requests if r[1].startswith(prebuilt_server.url)]
    assert len(ours) >= 5, requests
    assert all(status == 200 for _, _, status in ours), ours
    # Everything else it asked for is Daily's media bundle, from Daily's CDN.
    others = {r[1].split("/")[2] for r in requests if not r[1].startswith(prebuilt_server.url)}
    assert others <= {DAILY_CDN}, others


def _rms(pcm: bytes) -> float:
    samples = memoryview(pcm).cast("h")
    return math.sqrt(sum(s * s for s in samples) / len(samples)) / 32768 if samples else 0.0


@pytest.mark.slow
def test_pipecats_prebuilt_client_holds_a_call(
    launch_browser: Callable[..., Any], prebuilt_server: ServerProcess, artifacts: Path
) -> None:
    """Handshake, user transcript and bot audio, read from the socket the client opened."""
    from vani.frames import InputAudioRawFrame, InputTransportMessageFrame
    from vani.serializers.protobuf import ProtobufFrameSerializer

    speech = Path(__file__).parent.parent / "fixtures" / "speech" / "speech_16k.wav"
    browser = launch_browser(speech)
    page, requests = _open_websocket_mode(browser, prebuilt_server.url)
    page.wait_for_timeout(3000)
    if any(DAILY_CDN in r[1] and r[2] != 200 for r in requests):
        pytest.skip(
            "Pipecat's prebuilt client loads Daily's call-machine bundle from its CDN for the"
            " microphone, and this network cannot reach it"
        )
    page.wait_for_function("window.__wsLog.urls.length > 0", timeout=30_000)
    page.wait_for_timeout(15_000)
    page.screenshot(path=str(artifacts / "pipecat-prebuilt-call.png"))
    log = page.evaluate("window.__wsLog")
    serializer = ProtobufFrameSerializer()
    types: list[str] = []
    audio = b""
    for message in log["received"]:
        for frame in serializer.deserialize(base64.b64decode(message["b64"])):
            if isinstance(frame, InputTransportMessageFrame):
                types.append(str(frame.message.get("type")))
            elif isinstance(frame, InputAudioRawFrame):
                audio += frame.audio
    assert "bot-ready" in types
    assert "user-input" in types or "user-transcription" in types
    assert _rms(audio) > 0.02
