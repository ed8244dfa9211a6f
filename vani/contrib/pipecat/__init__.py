"""Drop-in replacements for Pipecat's audio analyzers, on vani's compiled, batched core.

Change one import and a Pipecat bot keeps its code::

    from vani.contrib.pipecat import SileroVADAnalyzer          # was pipecat.audio.vad.silero
    from vani.contrib.pipecat import SOXRStreamAudioResampler   # was pipecat.audio.resamplers...
    from vani.contrib.pipecat import LocalSmartTurnAnalyzerV3   # was pipecat.audio.turn...

Each name is resolved on first access: importing this package imports no Pipecat module, and
each class imports only the Pipecat base module it subclasses. Pipecat's ``ProtobufFrameSerializer``
is not replaced: its cost is a small share of a call (see docs/embedding.md). Guide:
docs/embedding.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vani.contrib.pipecat.resample import SOXRStreamAudioResampler
    from vani.contrib.pipecat.turn import LocalSmartTurnAnalyzerV3
    from vani.contrib.pipecat.vad import SileroVADAnalyzer

__all__ = ["LocalSmartTurnAnalyzerV3", "SOXRStreamAudioResampler", "SileroVADAnalyzer"]

_WHERE = {
    "SileroVADAnalyzer": "vani.contrib.pipecat.vad",
    "SOXRStreamAudioResampler": "vani.contrib.pipecat.resample",
    "LocalSmartTurnAnalyzerV3": "vani.contrib.pipecat.turn",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'vani.contrib.pipecat' has no attribute {name!r}")
    value: object = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
