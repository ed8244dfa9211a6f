"""Pipecat 1.14's side of ``live_calls.py``: the same voice bot as ``live_vani_bot.py``, served
the way Pipecat serves a WebSocket client. Runs under Pipecat's interpreter; imports no vani.

    $VANI_PIPECAT_PYTHON benchmarks/live_pipecat_bot.py --port 8790 \
        --stt ws://127.0.0.1:P1 --tts ws://127.0.0.1:P2 --openai http://127.0.0.1:P3/v1

One FastAPI app on uvicorn; each WebSocket at ``/ws`` gets its own pipeline, built as Pipecat's
documentation builds a WebSocket bot::

    FastAPIWebsocketTransport(ProtobufFrameSerializer)  →  SarvamSTTService  →  user aggregator
    (SileroVADAnalyzer, VAD-only turn end: SpeechTimeoutUserTurnStopStrategy)  →
    OpenAILLMService  →  SarvamTTSService  →  transport output  →  assistant aggregator

under a ``PipelineWorker`` with its defaults (RTVI on: the client's ``client-ready`` is answered
with ``bot-ready``, and the RTVI events the load generator times reach the client). Prints
``READY <port>`` when listening.

Pointing Pipecat at the fakes: ``SarvamTTSService`` takes ``url=`` and ``OpenAILLMService``
takes ``base_url=``; ``SarvamSTTService`` builds the ``sarvamai`` SDK client with the production
host, so after construction its private ``_sarvam_client`` is replaced by one whose
``SarvamAIEnvironment`` names the fake (as ``sarvam_pipecat.py`` does). Nothing else changes.
"""

import argparse
import asyncio
import os
import sys
import warnings
from typing import Any

SYSTEM = "You are a restaurant's booking assistant. Answer in one short sentence."


def build_app(stt_url: str, tts_url: str, openai_url: str) -> Any:
    import sarvamai
    from fastapi import FastAPI, WebSocket
    from loguru import logger
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.aggregators.llm_context import LLMContext
    from pipecat.processors.aggregators.llm_response_universal import (
        LLMContextAggregatorPair,
        LLMUserAggregatorParams,
    )
    from pipecat.serializers.protobuf import ProtobufFrameSerializer
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

    # benchmarks/pipecat_dropin.py: the same bot with Pipecat's default end-of-turn model
    # (VANI_DROPIN_TURN=smart) and with vani's drop-in analyzers (VANI_DROPIN=vani).
    smart_turn = os.environ.get("VANI_DROPIN_TURN") == "smart"
    VAD: Any = SileroVADAnalyzer
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
    from pipecat.turns.user_stop.turn_analyzer_user_turn_stop_strategy import (
        TurnAnalyzerUserTurnStopStrategy,
    )

    Turn: Any = LocalSmartTurnAnalyzerV3
    if os.environ.get("VANI_DROPIN") == "vani":
        sys.path.insert(0, os.environ["VANI_DROPIN_PATH"])
        from vani.contrib.pipecat import LocalSmartTurnAnalyzerV3 as Turn
        from vani.contrib.pipecat import SileroVADAnalyzer as VAD

    warnings.simplefilter("ignore", DeprecationWarning)  # renames since 1.3; same machinery
    logger.remove()  # Pipecat logs every frame edge at DEBUG: logging is not what is measured
    logger.add(sys.stderr, level="WARNING")
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws")
    async def call(websocket: WebSocket) -> None:
        await websocket.accept()
        transport = FastAPIWebsocketTransport(
            websocket=websocket,
            params=FastAPIWebsocketParams(
                audio_in_enabled=True,
                audio_out_enabled=True,
                add_wav_header=False,
                serializer=ProtobufFrameSerializer(),
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
                vad_analyzer=VAD(),
                user_turn_strategies=UserTurnStrategies(
                    start=[VADUserTurnStartStrategy()],
                    stop=[
                        TurnAnalyzerUserTurnStopStrategy(turn_analyzer=Turn())
                        if smart_turn
                        else SpeechTimeoutUserTurnStopStrategy()
                    ],
                ),
            ),
        )
        pipeline = Pipeline(
            [transport.input(), stt, pair.user(), llm, tts, transport.output(), pair.assistant()]
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
    ap.add_argument("--stt", required=True, help="ws://host:port of the Sarvam STT fake")
    ap.add_argument("--tts", required=True, help="ws://host:port of the Sarvam TTS fake")
    ap.add_argument("--openai", required=True, help="base URL of the OpenAI fake (…/v1)")
    ap.add_argument("--cpu", type=int, help="pin this process to this core")
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    import uvicorn

    app = build_app(args.stt, args.tts, args.openai)
    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        print(f"READY {args.port}", flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
