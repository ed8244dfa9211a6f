"""Embedding a vani call in an app you already have (Starlette here; FastAPI is the same).

    uvicorn examples.starlette_app:app --port 8000
then connect any Pipecat client (protobuf framing) to ws://127.0.0.1:8000/call. The bot is a
parrot: it plays your voice back to you. Swap ``Parrot()`` for STT, LLM and TTS services.
See docs/websocket.md.
"""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from vani.frames import Frame, FrameDirection, InputAudioRawFrame, OutputAudioRawFrame
from vani.pipeline import Pipeline, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.ravi import RTVIObserver, RTVIProcessor
from vani.serializers import ProtobufFrameSerializer
from vani.transports.websocket import WebSocketParams, WebSocketTransport


class Parrot(FrameProcessor):
    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            rate, channels = frame.sample_rate, frame.num_channels
            frame = OutputAudioRawFrame(audio=frame.audio, sample_rate=rate, num_channels=channels)
        await self.push_frame(frame, direction)


async def call(websocket: WebSocket) -> None:
    params = WebSocketParams(session_timeout_secs=600)
    transport = WebSocketTransport(websocket, ProtobufFrameSerializer(), params)
    ravi = RTVIProcessor(transport=transport)
    pipeline = Pipeline([transport.input(), ravi, Parrot(), transport.output()])
    task = PipelineTask(pipeline, observers=[RTVIObserver(ravi)])
    await PipelineRunner(handle_sigint=False).run(task)


async def home(request: Request) -> JSONResponse:  # the app's own routes stay as they were
    return JSONResponse({"service": "my app", "voice": "/call"})


app = Starlette(routes=[Route("/", home), WebSocketRoute("/call", call)])
