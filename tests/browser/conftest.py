"""Fixtures for the browser tests: Debian's chromium driven by playwright, a fake microphone fed
from a WAV, and vani's static client served over 127.0.0.1.

Chromium is launched from the system (``executable_path``), never downloaded. Without chromium
or playwright the tests skip with the reason, unless ``VANI_REQUIRE_BROWSER=1`` (set by
``tools/ci/setup-30-browser.sh``), where a missing browser fails them.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import vani

STATIC = Path(vani.__file__).parent / "server" / "static"
FIXTURES = Path(__file__).parent.parent / "fixtures"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]

PHONE = {"width": 390, "height": 844}


def _missing(reason: str) -> None:
    if os.environ.get("VANI_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("VANI_CHROMIUM") or shutil.which("chromium")
    if not path:
        _missing("Debian's chromium is not installed (tools/ci/setup-30-browser.sh installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _missing("playwright is not installed (it is in vani's test extra)")
    assert path is not None
    return path


@pytest.fixture
def launch_browser(chromium_path: str) -> Iterator[Callable[..., Any]]:
    """Returns launch(mic_wav=None) -> a playwright Browser whose fake microphone plays the WAV
    once (silence after it). Everything launched is closed at teardown."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, contextlib.ExitStack() as stack:

        def launch(mic_wav: Path | None = None) -> Any:
            args = list(CHROMIUM_ARGS)
            if mic_wav is not None:
                args.append(f"--use-file-for-fake-audio-capture={mic_wav}%noloop")
            browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=args)
            stack.callback(browser.close)
            return browser

        yield launch


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_server() -> Iterator[str]:
    """The client's files over plain HTTP on 127.0.0.1 (no vani server): for the page's units."""
    handler = functools.partial(_QuietHandler, directory=str(STATIC))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
