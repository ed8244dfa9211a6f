"""Pipecat's own Python client, unchanged, calling a vani server. Run with PIPECAT's Python.

    $VANI_PIPECAT_PYTHON tests/interop/pipecat_client.py http://127.0.0.1:7860 caller.wav

It does what a Pipecat user's client does: ``POST /start`` for ``{"wsUrl", "token"}``, then a
Pipecat pipeline ``WebsocketClientTransport.input() → recorder → .output()`` with Pipecat's
``ProtobufFrameSerializer`` (the browser's framing) on ``wsUrl?token=...``. It sends RTVI
``client-ready``, waits for ``bot-ready``, streams the caller WAV (16 kHz mono s16le) as 20 ms
audio frames in real time, then silence, and records everything the bot sends. It stops once
``--turns`` caller turns were transcribed and answered (a final ``user-input``, then bot audio,
then ``bot-stopped-speaking``) or after ``--timeout`` seconds, then
ends the pipeline, and prints one JSON object: the RTVI message types in arrival order, the
messages themselves, the bot's audio (bytes and sample rates) and Pipecat's version.

Imports nothing from vani: this file runs in Pipecat's virtual environment only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
import uuid
import wave
from typing import Any


def _start(base: str, body: dict[str, Any]) -> dict[str, str]:
    request = urllib.request.Request(
        base.rstrip("/") + "/start",
        data=json.dumps({"transport": "websocket", "body": body}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: dict[str, str] = json.loads(response.read())
    return data


def _caller_pcm(path: str) -> bytes:
    with wave.open(path, "rb") as wav:
        assert wav.getframerate() == 16000, wav.getframerate()
        assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
        return wav.readframes(wav.getnframes())


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    import pipecat
    from pipecat.frames.frames import (
        EndFrame,
        Frame,
        InputAudioRawFrame,
        InputTransportMessageFrame,
        OutputAudioRawFrame,
        OutputTransportMessageUrgentFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.serializers.protobuf import ProtobufFrameSerializer
    from pipecat.transports.websocket.client import (
        WebsocketClientParams,
        WebsocketClientTransport,
    )
    from pipecat.workers.runner import WorkerRunner

    started = _start(args.url, {"client": "pipecat-python"})
    uri = f"{started['wsUrl']}?token={started['token']}"
    t0 = time.monotonic()
    record: dict[str, Any] = {
        "pipecat_version": pipecat.__version__,
        "types": [],
        "messages": [],
        "audio_bytes": 0,
        "audio_rates": [],
        "first_audio_secs": None,
        "connected": False,
        "disconnected": False,
    }
    bot_ready = asyncio.Event()
    done = asyncio.Event()
    # A turn is over once the caller's final transcript came and then the bot's answer was
    # heard to its end (bot-stopped-speaking after audio that followed the transcript).
    turns = {"finals": 0, "audio_since_final": 0, "answered": 0}

    class Recorder(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, InputAudioRawFrame):
                record["audio_bytes"] += len(frame.audio)
                turns["audio_since_final"] += len(frame.audio)
                if frame.sample_rate not in record["audio_rates"]:
                    record["audio_rates"].append(frame.sample_rate)
                if record["first_audio_secs"] is None:
                    record["first_audio_secs"] = round(time.monotonic() - t0, 3)
                return  # the bot's audio is not sent back
            if isinstance(frame, InputTransportMessageFrame):
                if direction is not FrameDirection.DOWNSTREAM:
                    return  # broadcast both ways; record one copy
                message = frame.message
                kind = message.get("type") if isinstance(message, dict) else None
                record["types"].append(kind)
                record["messages"].append(message)
                data = message.get("data") if isinstance(message, dict) else None
                if kind == "bot-ready":
                    bot_ready.set()
                elif kind == "user-input" and isinstance(data, dict) and data.get("final"):
                    turns["finals"] += 1
                    turns["audio_since_final"] = 0
                elif kind == "bot-stopped-speaking" and turns["audio_since_final"]:
                    turns["answered"] = turns["finals"]
                    if turns["answered"] >= args.turns:
                        done.set()
                return
            await self.push_frame(frame, direction)

    transport = WebsocketClientTransport(
        uri=uri,
        params=WebsocketClientParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=ProtobufFrameSerializer(),
        ),
    )

    @transport.event_handler("on_connected")
    async def on_connected(_transport: Any, _ws: Any) -> None:
        record["connected"] = True

    @transport.event_handler("on_disconnected")
    async def on_disconnected(_transport: Any, _ws: Any) -> None:
        record["disconnected"] = True
        done.set()

    pipeline = Pipeline([transport.input(), Recorder(), transport.output()])
    worker = PipelineWorker(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=24000, audio_out_sample_rate=16000),
        enable_rtvi=False,
        enable_turn_tracking=False,
        idle_timeout_secs=None,
    )

    async def drive() -> None:
        hello = {
            "label": "rtvi-ai",
            "type": "client-ready",
            "id": uuid.uuid4().hex[:8],
            "data": {
                "version": "2.2.0",
                "about": {"library": "pipecat-python", "library_version": pipecat.__version__},
            },
        }
        await worker.queue_frame(OutputTransportMessageUrgentFrame(message=hello))
        try:
            await asyncio.wait_for(bot_ready.wait(), args.timeout)
        except TimeoutError:
            record["error"] = "no bot-ready"
            await worker.queue_frame(EndFrame())
            return
        record["bot_ready_secs"] = round(time.monotonic() - t0, 3)
        pcm = _caller_pcm(args.wav) + b"\x00" * 16000 * 2 * 2  # then 2 s of silence
        step = 640  # 20 ms at 16 kHz
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        for i in range(0, len(pcm) - step + 1, step):
            if done.is_set():
                break
            frame = OutputAudioRawFrame(audio=pcm[i : i + step], sample_rate=16000, num_channels=1)
            await worker.queue_frame(frame)
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        silence = b"\x00" * step
        deadline = t0 + args.timeout
        while not done.is_set() and time.monotonic() < deadline:
            await worker.queue_frame(
                OutputAudioRawFrame(audio=silence, sample_rate=16000, num_channels=1)
            )
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - loop.time()))
        if not done.is_set():
            record["error"] = f"timed out after {args.timeout} s"
        await worker.queue_frame(EndFrame())

    runner = WorkerRunner(handle_sigint=False)
    driver = asyncio.create_task(drive())
    await runner.add_workers(worker)
    await asyncio.wait_for(runner.run(), args.timeout + 15)
    await driver
    return record


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Pipecat's Python client against a vani server")
    parser.add_argument("url", help="the server's http:// base URL")
    parser.add_argument("wav", help="caller audio: 16 kHz mono WAV")
    parser.add_argument("--turns", type=int, default=1, help="answered caller turns to wait for")
    parser.add_argument("--timeout", type=float, default=40.0)
    result = asyncio.run(main(parser.parse_args()))
    print(json.dumps(result))
