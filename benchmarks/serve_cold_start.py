"""Cold start: ``vani serve`` process start → ``bot-ready`` on a client.

    python benchmarks/serve_cold_start.py [--repeat 5] [--offline]

Each repetition spawns ``<this interpreter> -m vani.cli serve --port 0`` in a fresh process and
times, on this process's clock from just before the spawn: the server printing its URL
(listening), ``POST /start`` answered, the WebSocket open, and ``bot-ready`` received after the
client's ``client-ready`` (Pipecat's protobuf framing, as the browser client sends it). The
figure the target is about is ``bot_ready_ms``: a caller's first call answered by a process
that did not exist a moment ago. ``server_cpu_ms`` is the server process's CPU time (user +
system) at that moment: on a shared machine it is the steadier figure.

By default the demo bot runs without local models: ``SARVAM_API_KEY`` and ``OPENAI_API_KEY``
are set and the services point at the fakes from :mod:`vani.testing`, which run in this
process (so their start-up is not counted). ``--offline`` measures the same with Whisper and
Piper (their models load when the first call starts). With ``--pipecat-python`` (default
``$VANI_PIPECAT_PYTHON``) the same is measured for Pipecat 1.14 serving the same bot
(``benchmarks/live_pipecat_bot.py``, the live-calls benchmark's: FastAPI + uvicorn, protobuf,
Silero, Sarvam, OpenAI, RTVI on; it prints ``READY`` when listening and has no ``/start``).
Medians over the repetitions; prints a JSON list, vani first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

_STEPS = ("listening_ms", "start_ms", "ws_open_ms", "bot_ready_ms", "server_cpu_ms")


async def _one(command: list[str], env: dict[str, str], pipecat_port: int = 0) -> dict[str, float]:
    """One cold start of ``command``: vani's (reads the URL it prints, posts ``/start``) or, with
    ``pipecat_port``, Pipecat's bot (reads ``READY``, connects to ``/ws`` as its app expects)."""
    import httpx
    import psutil
    from websockets.asyncio.client import connect

    from vani.serializers.protobuf import _FrameMessage

    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    marks: dict[str, float] = {}
    try:
        url = ""
        while not url:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            if not line:
                raise RuntimeError(f"{command[1]} exited before listening")
            if pipecat_port and line.startswith("READY"):
                url = f"http://127.0.0.1:{pipecat_port}"
            found = re.search(r"on (http://\S+)", line)
            url = url or (found.group(1) if found else "")
        marks["listening_ms"] = (time.perf_counter() - t0) * 1000
        if pipecat_port:
            ws_url = f"ws://127.0.0.1:{pipecat_port}/ws"
        else:
            async with httpx.AsyncClient() as http:
                started = (await http.post(url + "/start", json={})).json()
            ws_url = f"{started['wsUrl']}?token={started['token']}"
        marks["start_ms"] = (time.perf_counter() - t0) * 1000
        async with connect(ws_url) as ws:
            marks["ws_open_ms"] = (time.perf_counter() - t0) * 1000
            hello: object = _FrameMessage()
            hello.message.data = json.dumps(  # type: ignore[attr-defined]
                {
                    "label": "rtvi-ai",
                    "type": "client-ready",
                    "id": uuid.uuid4().hex[:8],
                    "data": {"version": "2.2.0", "about": {"library": "bench"}},
                }
            )
            await ws.send(hello.SerializeToString())  # type: ignore[attr-defined]
            async for data in ws:
                frame: object = _FrameMessage.FromString(data)  # type: ignore[arg-type]
                if frame.WhichOneof("frame") != "message":  # type: ignore[attr-defined]
                    continue
                message = json.loads(frame.message.data)  # type: ignore[attr-defined]
                if message.get("type") == "bot-ready":
                    marks["bot_ready_ms"] = (time.perf_counter() - t0) * 1000
                    cpu = psutil.Process(proc.pid).cpu_times()
                    marks["server_cpu_ms"] = (cpu.user + cpu.system) * 1000
                    break
    finally:
        proc.terminate()
        await proc.wait()
    return marks


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def measure(
    repeat: int, offline: bool, pipecat: tuple[str, str] | None = None
) -> dict[str, object]:
    """Medians over ``repeat`` cold starts. ``pipecat``: (Pipecat's Python, its bot file) to
    measure Pipecat's same bot instead (``benchmarks/live_pipecat_bot.py``)."""
    env = dict(os.environ)
    env.pop("VANI_SECRET", None)
    vani = [sys.executable, "-m", "vani.cli", "serve", "--port", "0"]
    runs: list[dict[str, float]] = []
    if offline:
        for _ in range(repeat):
            runs.append(await _one([*vani, "--offline"], env))
        engines = "offline (Whisper tiny.en + Piper + scripted)"
    else:
        from vani.testing.fake_openai import FakeOpenAIServer
        from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
        from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer

        async with (
            FakeOpenAIServer() as llm,
            FakeSarvamSTTServer() as stt,
            FakeSarvamTTSServer() as tts,
        ):
            env.update(OPENAI_API_KEY="sk-bench", SARVAM_API_KEY="test-key")
            for _ in range(repeat):
                if pipecat is not None:
                    port = _free_port()
                    python, bot = pipecat
                    command = [python, bot, "--port", str(port), "--stt", stt.base_url]
                    command += ["--tts", tts.base_url, "--openai", llm.base_url]
                    pipecat_env = {k: v for k, v in env.items() if k != "PYTHONPATH"}
                    runs.append(await _one(command, pipecat_env, pipecat_port=port))
                    continue
                urls = ["--llm-base-url", llm.base_url, "--sarvam-stt-url", stt.base_url]
                urls += ["--sarvam-tts-url", tts.base_url]
                runs.append(await _one([*vani, *urls], env))
        engines = "Sarvam STT/TTS + OpenAI-compatible LLM (fakes on 127.0.0.1)"
    result: dict[str, object] = {
        "framework": "pipecat" if pipecat else "vani",
        "engines": engines,
        "repeat": repeat,
    }
    for step in _STEPS:
        result[step] = round(statistics.median(r[step] for r in runs), 1)
    result["bot_ready_ms_all"] = [round(r["bot_ready_ms"], 1) for r in runs]
    result["target_ms"] = None if offline or pipecat else 1000
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="vani serve: process start to bot-ready")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--offline", action="store_true", help="Whisper + Piper instead of fakes")
    parser.add_argument(
        "--pipecat-python",
        default=os.environ.get("VANI_PIPECAT_PYTHON"),
        help="also measure Pipecat's same bot with this interpreter (default $VANI_PIPECAT_PYTHON)",
    )
    parser.add_argument(
        "--pipecat-bot",
        default=str(Path(__file__).parent / "live_pipecat_bot.py"),
        help="Pipecat's bot (default: benchmarks/live_pipecat_bot.py, the live-calls one)",
    )
    args = parser.parse_args(argv)
    results = [asyncio.run(measure(args.repeat, args.offline))]
    if args.pipecat_python and Path(args.pipecat_bot).is_file() and not args.offline:
        pipecat = (args.pipecat_python, args.pipecat_bot)
        results.append(asyncio.run(measure(args.repeat, False, pipecat)))
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
