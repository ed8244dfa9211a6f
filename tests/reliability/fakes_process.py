"""The Sarvam and OpenAI fakes in a child process (their recordings then cost the tested process
nothing). ``python tests/reliability/fakes_process.py [--words N]`` prints the three base URLs as
a JSON list, then serves until terminated.

The OpenAI fake answers every request with one sentence of ``--words`` words.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def serve(words: int) -> None:
    from vani.testing.fake_openai import FakeOpenAIServer, RecordedRequest, text_response
    from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
    from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer

    reply = [f" word{i}" for i in range(words - 1)] + [" done."]

    def respond(request: RecordedRequest) -> object:
        request.raw_body = b""  # keep nothing per request
        return text_response("Sure,", *reply)

    async with (
        FakeOpenAIServer(responder=respond) as llm,  # type: ignore[arg-type]
        FakeSarvamSTTServer(transcripts=["hello"] * 10_000) as stt,
        FakeSarvamTTSServer() as tts,
    ):
        print(json.dumps([llm.base_url, stt.base_url, tts.base_url]), flush=True)
        await asyncio.Event().wait()


@dataclass(frozen=True, slots=True)
class FakeURLs:
    openai: str
    stt: str
    tts: str


@contextlib.contextmanager
def fakes_process(words: int = 12) -> Iterator[FakeURLs]:
    """Run the fakes in a child process for the block."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, str(ROOT)])}
    child = subprocess.Popen(
        [sys.executable, __file__, "--words", str(words)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout is not None
        yield FakeURLs(*json.loads(child.stdout.readline()))
    finally:
        child.terminate()
        child.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--words", type=int, default=12)
    asyncio.run(serve(parser.parse_args().words))
