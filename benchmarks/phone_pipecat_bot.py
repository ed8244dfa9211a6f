"""Pipecat 1.14's side of ``phone_calls.py``: the live-calls bot (``live_pipecat_bot.py``'s
pipeline) behind Pipecat's Twilio serializer, served the way Pipecat's documentation serves a
Twilio bot. Runs under Pipecat's interpreter; imports no vani.

    $VANI_PIPECAT_PYTHON benchmarks/phone_pipecat_bot.py --port 8790 \
        --stt ws://… --tts ws://… --openai http://…/v1 [--probe /tmp/probe.txt]

FastAPI on uvicorn: ``POST /telephony/twilio`` answers TwiML ``<Connect><Stream>`` (no signature
check: Pipecat's runner does none); the stream socket reads Twilio's ``start`` with
``parse_telephony_websocket`` and runs ``FastAPIWebsocketTransport(TwilioFrameSerializer)`` →
Sarvam STT → user aggregator (Silero VAD, VAD-only turn end) → OpenAI → Sarvam TTS → output →
assistant aggregator. A probe before the user aggregator (where Pipecat runs its VAD) appends
``<call sid> <time.monotonic()>`` to ``--probe`` when a call's first audio reaches it.
"""

import argparse
import asyncio
import os
import sys
import time
import warnings
from typing import Any

SYSTEM = "You are a restaurant's booking assistant. Answer in one short sentence."


def build_app(stt_url: str, tts_url: str, openai_url: str, probe: str | None) -> Any:
    import sarvamai
    from fastapi import FastAPI, Request, WebSocket
    from fastapi.responses import Response
    from loguru import logger
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.frames.frames import Frame, InputAudioRawFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.runner.utils import parse_telephony_websocket
    from pipecat.serializers.twilio import TwilioFrameSerializer
    from pipecat.services.openai.llm import OpenAILLMService
    from pipecat.services.sarvam.stt import SarvamSTTService
    from pipecat.services.sarvam.tts import SarvamTTSService
    from pipecat.transports.websocket.fastapi import (
        FastAPIWebsocketParams,
        FastAPIWebsocketTransport,
    )
    from pipecat.turns.user_start import VADUserTurnStartStrategy
    from pipecat.turns.user_stop.speech_timeout_user_turn_stop_strategy import (
        SpeechTimeoutUserTurnStopStrategy,
    )
    from pipecat.turns.user_turn_strategies import UserTurnStrategies
    from pipecat.workers.runner import WorkerRunner
    from sarvamai.environment import SarvamAIEnvironment

    warnings.simplefilter("ignore", DeprecationWarning)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    app = FastAPI()

    def note(call_id: str, when: float) -> None:
        with open(probe, "a") as f:  # type: ignore[arg-type]
            f.write(f"{call_id} {when:.6f}\n")

    class Probe(FrameProcessor):
        def __init__(self, call_id: str) -> None:
            super().__init__()
            self.call_id = call_id
            self.seen = probe is None

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if not self.seen and isinstance(frame, InputAudioRawFrame):
                self.seen = True
                note(self.call_id, time.monotonic())
            await self.push_frame(frame, direction)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/telephony/twilio")
    async def webhook(request: Request) -> Response:
        host = request.headers.get("host")
        twiml = (
            '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
            f'<Stream url="ws://{host}/telephony/twilio/ws"></Stream></Connect></Response>'
        )
        return Response(content=twiml, media_type="application/xml")

    @app.websocket("/telephony/twilio/ws")
    async def call(websocket: WebSocket) -> None:
        await websocket.accept()
        _kind, call_data = await parse_telephony_websocket(websocket)
        serializer = TwilioFrameSerializer(
            stream_sid=call_data["stream_id"],
            call_sid=call_data["call_id"],
            params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
        )
        transport = FastAPIWebsocketTransport(
            websocket=websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=serializer,
            ),
        )
        stt = SarvamSTTService(api_key="test-key")
        stt._sarvam_client = sarvamai.AsyncSarvamAI(
            api_subscription_key="test-key",
            environment=SarvamAIEnvironment(
                base=stt_url.replace("ws", "http", 1), production=stt_url
            ),
        )
        llm = OpenAILLMService(api_key="sk-test", base_url=openai_url, model="gpt-4o-mini")
        tts = SarvamTTSService(
            api_key="test-key", url=tts_url + "/text-to-speech/ws", model="bulbul:v2",
            voice_id="anushka",
        )  # fmt: skip
        context = LLMContext(messages=[{"role": "system", "content": SYSTEM}])
        pair = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=SileroVADAnalyzer(),
                user_turn_strategies=UserTurnStrategies(
                    start=[VADUserTurnStartStrategy()],
                    stop=[SpeechTimeoutUserTurnStopStrategy()],
                ),
            ),
        )
        pipeline = Pipeline(
            [
                transport.input(),
                stt,
                Probe(str(call_data["call_id"])),
                pair.user(),
                llm,
                tts,
                transport.output(),
                pair.assistant(),
            ]
        )
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=24000),
        )

        @transport.event_handler("on_client_disconnected")
        async def on_client_disconnected(_transport: Any, _client: Any) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--stt", required=True)
    ap.add_argument("--tts", required=True)
    ap.add_argument("--openai", required=True)
    ap.add_argument("--probe", default=None)
    args = ap.parse_args()
    import uvicorn

    app = build_app(args.stt, args.tts, args.openai, args.probe)
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        print(f"READY {args.port}", flush=True)
        await task

    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    asyncio.run(serve())


if __name__ == "__main__":
    main()
