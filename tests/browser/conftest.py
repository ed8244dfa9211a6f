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
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import vani
from vani.testing.browser import ServerProcess, chromium_args, find_chromium

STATIC = Path(vani.__file__).parent / "server" / "static"
FIXTURES = Path(__file__).parent.parent / "fixtures"
ROOT = Path(__file__).parent.parent.parent
FAKES_BOT = ROOT / "benchmarks" / "browser_fakes_bot.py"

PHONE = {"width": 390, "height": 844}


def _missing(reason: str) -> None:
    if os.environ.get("VANI_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = find_chromium()
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
            browser = p.chromium.launch(
                executable_path=chromium_path, headless=True, args=chromium_args(mic_wav)
            )
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


@pytest.fixture
def vani_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Returns server(args, port=None, env=None) -> a started ``vani <args>`` child process
    (logging to the test's tmp dir); every one is stopped at teardown."""
    started: list[ServerProcess] = []

    def server(
        args: Sequence[str], *, port: int | None = None, env: dict[str, str] | None = None
    ) -> ServerProcess:
        n = len(started)
        proc = ServerProcess(
            args,
            port=port,
            log_path=tmp_path / f"server-{n}.log",
            env={**os.environ, **(env or {})},
        )
        started.append(proc)
        return proc.start()

    try:
        yield server
    finally:
        for proc in started:
            proc.stop()


@pytest.fixture
def fakes_bot() -> Path:
    """The zero-latency fakes bot for ``vani run`` (benchmarks/browser_fakes_bot.py)."""
    return FAKES_BOT


@pytest.fixture
def open_page() -> Callable[..., tuple[Any, PageWatch]]:
    """Returns open_page(browser, url) -> (a phone-sized page at url, its PageWatch)."""

    def open_(browser: Any, url: str) -> tuple[Any, PageWatch]:
        page = browser.new_page(viewport=PHONE)
        watch = PageWatch(page)
        page.goto(url)
        return page, watch

    return open_


class PageWatch:
    """Collects a page's uncaught errors and console errors (tests assert there are none)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on(
            "console",
            lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None,
        )

    def unexpected(self, *allowed: str) -> list[str]:
        return [e for e in self.errors if not any(a in e for a in allowed)]


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where a test saves its screenshots (under pytest's tmp dir, kept after the run)."""
    path = tmp_path / "artifacts"
    path.mkdir()
    return path
