"""vani.testing.browser: the pieces the browser tests and benchmarks build on."""

from __future__ import annotations

import socket
import wave
from pathlib import Path

import pytest

from vani.errors import ConfigurationError
from vani.testing.browser import ServerProcess, chromium_args, free_port, write_wav


def test_write_wav_joins_pcm_and_silence(tmp_path: Path) -> None:
    pcm = (1000).to_bytes(2, "little", signed=True) * 160  # 10 ms at 16 kHz
    path = write_wav(tmp_path / "x.wav", [0.5, pcm, 0.25], sample_rate=16000)
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)
        frames = wav.readframes(wav.getnframes())
    assert len(frames) == 2 * (8000 + 160 + 4000)
    assert frames[16000 : 16000 + 320] == pcm
    assert set(frames[:16000]) == {0}


def test_write_wav_refuses_odd_pcm(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="even length"):
        write_wav(tmp_path / "x.wav", [b"\x00"])


def test_chromium_args_play_a_wav_once(tmp_path: Path) -> None:
    args = chromium_args(tmp_path / "mic.wav")
    assert f"--use-file-for-fake-audio-capture={tmp_path / 'mic.wav'}%noloop" in args
    assert "--use-fake-ui-for-media-stream" in args
    assert not any(a.startswith("--use-file-for-fake-audio-capture") for a in chromium_args())


def test_free_port_is_free() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_a_server_that_exits_early_reports_its_log(tmp_path: Path) -> None:
    server = ServerProcess(["run", str(tmp_path / "missing_bot.py")], log_path=tmp_path / "log")
    with pytest.raises(RuntimeError, match="exited with") as failure:
        server.start()
    assert "missing_bot.py" in str(failure.value)  # the log's tail says why
    assert server.stop() not in (None, 0)
