"""Offline speech engines (extra ``vani[local]``): Whisper STT and Piper TTS.

Both classes load lazily on first attribute access, so ``import vani.services.local`` needs
neither faster-whisper nor piper-tts; using one without its package installed raises
:class:`~vani.errors.ModelLoadError` saying what to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vani.services.local.piper import PiperTTSService
    from vani.services.local.whisper import WhisperSTTService

__all__ = ["PiperTTSService", "WhisperSTTService"]


def __getattr__(name: str) -> object:
    if name == "WhisperSTTService":
        from vani.services.local.whisper import WhisperSTTService

        return WhisperSTTService
    if name == "PiperTTSService":
        from vani.services.local.piper import PiperTTSService

        return PiperTTSService
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
