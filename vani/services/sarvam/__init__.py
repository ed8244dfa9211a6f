"""Sarvam AI speech services: streaming STT and TTS over WebSockets.

``from vani.services.sarvam import SarvamSTTService, SarvamTTSService``. Both take ``api_key=``
(else ``$SARVAM_API_KEY``) and ``base_url=`` (default ``wss://api.sarvam.ai``; tests point it at
the fakes in :mod:`vani.testing.fake_sarvam_stt` / :mod:`vani.testing.fake_sarvam_tts`).
"""

from vani.services.sarvam.stt import SarvamSTTService
from vani.services.sarvam.tts import SarvamTTSService

__all__ = ["SarvamSTTService", "SarvamTTSService"]
