"""Peak RSS of one whole `vani demo` call in this (fresh) process; prints one JSON line.

    python benchmarks/e2e_rss.py offline        # Silero + Whisper + scripted LLM + Piper
    python benchmarks/e2e_rss.py cloud-fakes    # Silero + Sarvam STT/TTS + OpenAI, all fakes

The fakes run in a child process (`serve-fakes`, ended with SIGTERM), so their memory is not
counted. The cloud variant uses the OpenAI SDK and websockets against them exactly as against the
real services; on the virtual clock its latencies mean nothing (network waits look idle).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def serve_fakes() -> None:
    from vani.demo import demo_call_path, pizza_script
    from vani.processors.aggregators import LLMContext
    from vani.services.llm.scripted import ScriptedTurn
    from vani.testing.fake_openai import (
        FakeOpenAIServer,
        RecordedRequest,
        Response,
        StreamResponse,
        text_response,
        tool_call,
    )
    from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
    from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer

    def respond(request: RecordedRequest) -> Response:
        turn = pizza_script(LLMContext(messages=request.messages))
        if isinstance(turn, ScriptedTurn):
            call = turn.tool_calls[0]
            return StreamResponse(tool_call("call_1", call.name, json.dumps(call.arguments)))
        return text_response(*re.findall(r"\s*\S+", str(turn or "")))

    turns = json.loads(demo_call_path().with_suffix(".json").read_text())["turns"]
    async with (
        FakeOpenAIServer(responder=respond) as llm,
        FakeSarvamSTTServer(transcripts=[t["text"] for t in turns]) as stt,
        FakeSarvamTTSServer() as tts,
    ):
        print(json.dumps([llm.base_url, stt.base_url, tts.base_url]), flush=True)
        await asyncio.Event().wait()  # until the parent terminates us


def main(mode: str) -> None:
    if mode == "serve-fakes":
        asyncio.run(serve_fakes())
        return
    from vani.demo import Endpoints, run_demo

    began = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "call.wav"
        if mode == "offline":
            result = asyncio.run(run_demo(output_path=out, offline=True, realtime=False))
        elif mode == "cloud-fakes":
            child = subprocess.Popen(
                [sys.executable, __file__, "serve-fakes"],
                stdout=subprocess.PIPE,
                text=True,
            )
            try:
                assert child.stdout is not None
                llm, stt, tts = json.loads(child.stdout.readline())
                os.environ.update(OPENAI_API_KEY="sk-test", SARVAM_API_KEY="test-key")
                endpoints = Endpoints(llm, stt, tts)
                result = asyncio.run(run_demo(output_path=out, realtime=False, endpoints=endpoints))
            finally:
                child.terminate()
                child.wait(10)
        else:
            raise SystemExit(f"unknown mode {mode!r}: expected offline or cloud-fakes")
    print(
        json.dumps(
            {
                "peak_rss_mib": round(peak_rss_mib(), 1),
                "bot_replies": len(result.bot_replies),
                "tool_calls": len(result.tool_calls),
                "wall_secs": round(time.perf_counter() - began, 2),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "offline")
