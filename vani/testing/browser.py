"""Helpers for driving a vani server from a real browser (docs/browser.md).

:class:`ServerProcess` runs ``vani serve`` or ``vani run bot.py`` in a child process on a free
port of 127.0.0.1 and waits until it answers ``/health``; :func:`chromium_args` gives the flags
that run Debian's Chromium headless here with a WAV file as its microphone; :func:`write_wav`
composes such a file (speech, silence, more speech timed to talk over the bot).

Nothing here imports a browser library: drive Chromium with ``playwright`` (launched with
``executable_path=find_chromium()``, never a downloaded browser) or anything else.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

from vani.errors import ConfigurationError

__all__ = ["ServerProcess", "chromium_args", "find_chromium", "free_port", "write_wav"]

_BASE_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    # Without these Chromium keeps trying outbound connections that a closed network refuses.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
)


def find_chromium() -> str | None:
    """Chromium's executable: ``$VANI_CHROMIUM``, else ``chromium`` on the PATH, else None."""
    return os.environ.get("VANI_CHROMIUM") or shutil.which("chromium")


def chromium_args(mic_wav: str | Path | None = None) -> list[str]:
    """Flags for a headless Chromium that grants the microphone without asking. With
    ``mic_wav`` the microphone plays that WAV once, then silence; without it Chromium's fake
    microphone beeps."""
    args = list(_BASE_ARGS)
    if mic_wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={mic_wav}%noloop")
    return args


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_wav(path: str | Path, pieces: Iterable[bytes | float], sample_rate: int = 16000) -> Path:
    """Write a mono s16le WAV from ``pieces``: PCM bytes at ``sample_rate`` as they are, and
    numbers as that many seconds of silence. Returns the path."""
    out = Path(path)
    with wave.open(str(out), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        for piece in pieces:
            if isinstance(piece, bytes):
                if len(piece) % 2:
                    raise ConfigurationError(f"pcm must have an even length, got {len(piece)}")
                wav.writeframes(piece)
            else:
                wav.writeframes(bytes(2 * round(piece * sample_rate)))
    return out


class ServerProcess:
    """``vani <args>`` (``serve ...`` or ``run bot.py ...``) in a child process on
    ``127.0.0.1:port``. :meth:`start` returns once ``/health`` answers; :meth:`stop` sends
    SIGINT (stop now: the server ends its calls and exits; SIGTERM may drain them first) or,
    with ``kill=True``, SIGKILL. Output goes
    to ``log_path``. Usable as a context manager; a stopped server can be started again on the
    same port."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        port: int | None = None,
        log_path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout_secs: float = 120.0,
    ) -> None:
        self.args = list(args)
        self.port = port or free_port()
        self.log_path = Path(log_path) if log_path is not None else None
        self.env = dict(os.environ if env is None else env)
        self.start_timeout_secs = start_timeout_secs
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerProcess:
        if self.process is not None and self.process.poll() is None:
            return self
        args = list(self.args)
        if args[:1] in (["run"], ["serve"]) and not any(a.startswith("--workers") for a in args):
            # One process unless asked otherwise, so /health (answered by whichever worker takes
            # the request) describes the whole server.
            args += ["--workers", "1"]
        command = [sys.executable, "-m", "vani.cli", *args, "--port", str(self.port)]
        if self.log_path is None:
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=self.env
            )
        else:
            with open(self.log_path, "ab") as log:
                self.process = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, env=self.env
                )
        deadline = time.monotonic() + self.start_timeout_secs
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"vani {' '.join(self.args)} exited with {self.process.returncode}"
                    f" before serving{self._log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1.0) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        self.stop(kill=True)
        raise RuntimeError(f"vani did not answer /health within {self.start_timeout_secs} s")

    def stop(self, *, kill: bool = False, timeout_secs: float = 15.0) -> int | None:
        """Stop the server; returns its exit status (None if it was not running)."""
        process = self.process
        if process is None:
            return None
        self.process = None
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGINT)
            try:
                process.wait(timeout_secs)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def _log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n" + self.log_path.read_text(errors="replace")[-3000:]

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
