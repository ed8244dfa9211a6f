"""Testing tools shipped with vani: the ``run_test`` harness and protocol-faithful fakes.

The fake servers load on first use, so importing ``vani.testing`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from vani.testing.harness import SleepFrame, run_test

if TYPE_CHECKING:
    from vani.testing.fake_openai import ErrorResponse as ErrorResponse
    from vani.testing.fake_openai import FakeOpenAIServer as FakeOpenAIServer
    from vani.testing.fake_openai import StreamResponse as StreamResponse
    from vani.testing.fake_openai import error_response as error_response
    from vani.testing.fake_openai import text_response as text_response
    from vani.testing.fake_openai import tool_call as tool_call
    from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer as FakeSarvamSTTServer
    from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer as FakeSarvamTTSServer
    from vani.testing.fake_telephony_api import FakeTelephonyAPI as FakeTelephonyAPI
    from vani.testing.telephony import TelephonySimulator as TelephonySimulator

# Lazily loaded names -> the module that defines them.
_LAZY = {
    "ErrorResponse": "vani.testing.fake_openai",
    "FakeOpenAIServer": "vani.testing.fake_openai",
    "StreamResponse": "vani.testing.fake_openai",
    "error_response": "vani.testing.fake_openai",
    "text_response": "vani.testing.fake_openai",
    "tool_call": "vani.testing.fake_openai",
    "FakeSarvamSTTServer": "vani.testing.fake_sarvam_stt",
    "FakeSarvamTTSServer": "vani.testing.fake_sarvam_tts",
    "FakeTelephonyAPI": "vani.testing.fake_telephony_api",
    "TelephonySimulator": "vani.testing.telephony",
}

__all__ = ["SleepFrame", "run_test", *sorted(_LAZY)]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vani.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
