"""Pipecat 1.14's own WebSocket server, for the test that vani's page speaks Pipecat's protocol.

Runs under Pipecat's interpreter (``$VANI_PIPECAT_PYTHON``); imports no vani.

    $VANI_PIPECAT_PYTHON tests/browser/pipecat_echo_server.py PORT STATIC_DIR

A FastAPI app in the shape of Pipecat's development runner: ``POST /start`` answers
``{"wsUrl"}``, ``/ws`` is a ``FastAPIWebsocketTransport`` with Pipecat's
``ProtobufFrameSerializer`` under a ``PipelineWorker`` with its defaults (RTVI on, so
``client-ready`` is answered with ``bot-ready``), and ``/`` serves STATIC_DIR (vani's page). The
bot echoes the caller's audio back as its own, so the page hears what it sent. Prints
``READY`` when listening.
"""

import sys
import warnings
from typing import Any


def build_app(port: int, static_dir: str) -> Any:
    from fastapi import FastAPI, WebSocket
    from fastapi.staticfiles import StaticFiles
    from loguru import logger
    from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
    from pipecat.serializers.protobuf import ProtobufFrameSerializer
    from pipecat.transports.websocket.fastapi import (
        FastAPIWebsocketParams,
        FastAPIWebsocketTransport,
    )
    from pipecat.workers.runner import WorkerRunner

    warnings.simplefilter("ignore", DeprecationWarning)
    logger.remove()
    logger.add(sys.stderr, level="WARNING")

    class Echo(FrameProcessor):
        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, InputAudioRawFrame):
                await self.push_frame(
                    OutputAudioRawFrame(
                        audio=frame.audio,
                        sample_rate=frame.sample_rate,
                        num_channels=frame.num_channels,
                    )
                )
            else:
                await self.push_frame(frame, direction)

    app = FastAPI()

    @app.post("/start")
    async def start() -> dict[str, str]:
        return {"wsUrl": f"ws://127.0.0.1:{port}/ws"}

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
        pipeline = Pipeline([transport.input(), Echo(), transport.output()])
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

    app.mount("/", StaticFiles(directory=static_dir, html=True), name="static")
    return app


def main() -> None:
    import uvicorn

    port, static_dir = int(sys.argv[1]), sys.argv[2]
    config = uvicorn.Config(build_app(port, static_dir), host="127.0.0.1", port=port)
    server = uvicorn.Server(config)
    print("READY", flush=True)
    server.run()


if __name__ == "__main__":
    main()
