"""Every server message vani builds validates against Pipecat 1.14's own RTVI models.

Pipecat runs in its own venv (``VANI_PIPECAT_PYTHON``), never in vani's process.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap

import pytest

from vani.ravi import messages as m

T = m.ServerMessageType
PIPECAT = os.environ.get("VANI_PIPECAT_PYTHON")


def every_message() -> list[dict[str, object]]:
    built = [
        m.bot_ready(
            "1",
            "2.2.0",
            {"library": "vani", "library_version": "0.1.0"},
            {
                "audio_in": True,
                "audio_out": True,
                "video_in": None,
                "screen_in": None,
                "video_out": None,
                "metrics": False,
            },
        ),
        m.error("boom", fatal=False),
        m.error_response("2", "Unsupported type x"),
        m.server_response("3", "get", {"a": 1}),
        m.server_message({"a": 1}),
        m.user_input("hi", input_type="transcription", timestamp="t", final=False, user_id="u"),
        m.user_input("hi", input_type="chat", timestamp="t", final=True, msg_id="4"),
        m.user_transcription("hi", user_id="u", timestamp="t", final=True),
        m.stt_raw_text("hi", user_id="u", timestamp="t", final=True),
        m.text(T.USER_LLM_TEXT, "hi"),
        m.text(T.BOT_LLM_TEXT, "Hel"),
        m.text(T.LLM_RAW_TEXT, "Hel"),
        m.text(T.BOT_TTS_TEXT, "Hello."),
        m.text(T.TTS_RAW_TEXT, "Hello."),
        m.bot_output("Hello.", segment_id=7, legacy=False),
        m.bot_output("Hello.", segment_id=7, legacy=True),
        m.bot_output("Text only.", segment_id=8, legacy=False, spoken=False),
        m.metrics(
            {
                "ttfb": [{"processor": "llm", "model": "m", "value": 0.2}],
                "processing": [{"processor": "tts", "value": 0.1}],
                "tokens": [
                    {
                        "processor": "llm",
                        "prompt_tokens": 1,
                        "completion_tokens": 2,
                        "total_tokens": 3,
                    }
                ],
                "characters": [{"processor": "tts", "value": 42}],
            }
        ),
        m.function_call(T.LLM_FUNCTION_CALL_STARTED, {"tool_call_id": "c", "function_name": "f"}),
        m.function_call(
            T.LLM_FUNCTION_CALL_IN_PROGRESS,
            {"tool_call_id": "c", "function_name": "f", "arguments": {"x": 1}},
        ),
        m.function_call(
            T.LLM_FUNCTION_CALL_STOPPED, {"tool_call_id": "c", "cancelled": False, "result": 1}
        ),
        m.audio_level(T.USER_AUDIO_LEVEL, 0.5),
        m.audio_level(T.BOT_AUDIO_LEVEL, 0.25),
    ]
    built += [
        m.event(kind)
        for kind in T
        if kind.value.endswith(("-started", "-stopped", "-speaking"))
        and not kind.value.startswith("llm-function-call")
    ]
    built += [m.event(T.BOT_INTERRUPTED)]
    return [msg.to_json() for msg in built]


def test_every_server_type_is_covered_here() -> None:
    covered = {msg["type"] for msg in every_message()}
    assert covered == {kind.value for kind in T}


@pytest.mark.skipif(not PIPECAT, reason="VANI_PIPECAT_PYTHON is not set (Pipecat's venv)")
def test_pipecat_models_accept_every_server_message() -> None:
    assert PIPECAT is not None
    script = textwrap.dedent(
        """
        import json, sys
        from pydantic import BaseModel
        import pipecat.processors.frameworks.rtvi.models as M
        models = {}
        for name in dir(M):
            c = getattr(M, name)
            if isinstance(c, type) and issubclass(c, BaseModel) and "type" in c.model_fields:
                d = c.model_fields["type"].default
                if isinstance(d, str):
                    models[d] = c
        problems = []
        for msg in json.load(sys.stdin):
            model = models.get(msg["type"])
            if model is None:
                problems.append([msg["type"], "no pipecat model"])
                continue
            try:
                model.model_validate(msg)
            except Exception as exc:
                problems.append([msg["type"], str(exc)])
        print(json.dumps(problems))
        """
    )
    proc = subprocess.run(
        [PIPECAT, "-c", script],
        input=json.dumps(every_message()),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    problems = json.loads(proc.stdout.strip().splitlines()[-1])
    assert problems == []
