"""RAVIProcessor.set_message_sink: RTVI messages go straight to a running transport output."""

from __future__ import annotations

from vani.frames import JSONValue
from vani.ravi import RAVIProcessor


class _Sink:
    def __init__(self, started: bool) -> None:
        self.started = started
        self.sent: list[JSONValue] = []

    async def send_message(self, message: JSONValue) -> None:
        self.sent.append(message)


async def test_messages_go_to_a_running_sink_without_walking_the_pipeline() -> None:
    ravi = RAVIProcessor()
    sink = _Sink(started=True)
    ravi.set_message_sink(sink)
    pushed: list[object] = []

    async def push_frame(frame: object, *_args: object) -> None:
        pushed.append(frame)

    ravi.push_frame = push_frame  # type: ignore[method-assign, assignment]
    await ravi.push_transport_message({"label": "rtvi-ai", "type": "bot-llm-started"})
    assert sink.sent == [{"label": "rtvi-ai", "type": "bot-llm-started"}]
    assert pushed == []


async def test_a_sink_that_is_not_running_leaves_messages_to_the_pipeline() -> None:
    ravi = RAVIProcessor()
    sink = _Sink(started=False)
    ravi.set_message_sink(sink)
    pushed: list[object] = []

    async def push_frame(frame: object, *_args: object) -> None:
        pushed.append(frame)

    ravi.push_frame = push_frame  # type: ignore[method-assign, assignment]
    await ravi.push_transport_message({"type": "x"})
    assert sink.sent == [] and len(pushed) == 1
