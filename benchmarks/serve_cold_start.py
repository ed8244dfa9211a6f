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
Piper (their models load when the first call starts). Medians over the repetitions; prints one
JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Sequence

_STEPS = ("listening_ms", "start_ms", "ws_open_ms", "bot_ready_ms", "server_cpu_ms")


async def _one(env: dict[str, str], extra: list[str]) -> dict[str, float]:
    import httpx
    import psutil
    from websockets.asyncio.client import connect

    from vani.serializers.protobuf import _FrameMessage

    t0 = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "vani.cli",
        "serve",
        "--port",
        "0",
        *extra,
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
                raise RuntimeError("vani serve exited before listening")
            found = re.search(r"on (http://\S+)", line)
            url = found.group(1) if found else ""
        marks["listening_ms"] = (time.perf_counter() - t0) * 1000
        async with httpx.AsyncClient() as http:
            started = (await http.post(url + "/start", json={})).json()
        marks["start_ms"] = (time.perf_counter() - t0) * 1000
        async with connect(f"{started['wsUrl']}?token={started['token']}") as ws:
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


async def measure(repeat: int, offline: bool) -> dict[str, object]:
    env = dict(os.environ)
    env.pop("VANI_SECRET", None)
    runs: list[dict[str, float]] = []
    if offline:
        for _ in range(repeat):
            runs.append(await _one(env, ["--offline"]))
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
            extra = [
                "--llm-base-url",
                llm.base_url,
                "--sarvam-stt-url",
                stt.base_url,
                "--sarvam-tts-url",
                tts.base_url,
            ]
            for _ in range(repeat):
                runs.append(await _one(env, extra))
        engines = "Sarvam STT/TTS + OpenAI-compatible LLM (fakes on 127.0.0.1)"
    result: dict[str, object] = {"engines": engines, "repeat": repeat}
    for step in _STEPS:
        result[step] = round(statistics.median(r[step] for r in runs), 1)
    result["bot_ready_ms_all"] = [round(r["bot_ready_ms"], 1) for r in runs]
    result["target_ms"] = None if offline else 1000
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="vani serve: process start to bot-ready")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--offline", action="store_true", help="Whisper + Piper instead of fakes")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(measure(args.repeat, args.offline)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
