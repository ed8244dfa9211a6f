"""End of turn: the smart-turn v3 model, one per process, its inferences batched across sessions.

The model (``vani/models/smart-turn-v3.2-cpu.onnx``, BSD-2-Clause, from Pipecat) reads the last
up to 8 s of the user's audio as log-mel features (:mod:`vani.audio.turn_features`) and says
how likely the user has finished their turn. It is loaded once, lazily, with one thread, and
shared by every stream in the process; :func:`configure_smart_turn` picks another model file,
execution provider, thread count or batch size before the first question.

* :class:`SmartTurnAnalyzer` (Pipecat's name :data:`LocalSmartTurnAnalyzerV3` also works) —
  one stream's turn analysis, Pipecat's API: ``append_audio(pcm, is_speech)``,
  ``await analyze_end_of_turn()``, ``clear()``.
* :class:`TurnBatcher` — gathers the questions of every analyzer on the event loop and runs
  them as batches (features and model together) on one worker thread, so the loop keeps serving
  audio while the model runs.

Measured here (one thread, the ``cpu`` model): ~42-45 ms per question alone (features 1-3 ms
of it) and more per question in batches — 54-75 ms at 8, 60-73 ms at 32 and 64: the model is
bound by arithmetic and a batch's tensors leave the cache. So the shared batcher runs one
question at a time by default (``max_batch=1``); raise it for a provider where batches pay (an
accelerator). What one batcher per process gives either way: one model in memory (Pipecat loads
one per analyzer), one inference thread however many calls, the event loop free while the model
runs, and questions that went stale while queued (the user spoke again) dropped before they
cost anything. Benchmarks: ``benchmarks/bench_turn.py``. Guide:
docs/turn-taking.md.

On Linux the worker thread runs ``WORKER_NICENESS`` (10) steps nicer than the thread that
started it. On a busy core the scheduler would otherwise share the core evenly between the
event loop and a 45 ms inference, and every call's outgoing audio would wait for the loop's
half; niced, the inference takes what the loop leaves (about a tenth of the core when the loop
wants all of it), so a turn's decision comes later under load and no call's audio breaks up.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import importlib.resources
import os
import pathlib
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vani.audio.resample import StreamResampler
from vani.audio.turn_features import N_FRAMES, N_MELS, N_SAMPLES, SAMPLE_RATE, log_mel_features
from vani.errors import ConfigurationError, ModelLoadError

__all__ = [
    "EndOfTurnState",
    "LocalSmartTurnAnalyzerV3",
    "SmartTurnAnalyzer",
    "SmartTurnParams",
    "TurnBatcher",
    "TurnMetricsData",
    "TurnStream",
    "configure_smart_turn",
    "get_turn_batcher",
    "run_smart_turn",
    "smart_turn_session",
]

MODEL_FILE = "smart-turn-v3.2-cpu.onnx"
# How much nicer than its creator the inference thread runs (Linux; see the module docstring).
WORKER_NICENESS = 10


class EndOfTurnState(enum.Enum):
    """Whether the user's turn is over (Pipecat's values)."""

    COMPLETE = 1
    INCOMPLETE = 2


@dataclass(frozen=True, slots=True)
class SmartTurnParams:
    """Turn analysis settings; names match Pipecat's ``SmartTurnParams``.

    stop_secs:
        The cap: after this much silence the turn ends whatever the model said (1.5 s;
        Pipecat's default is 3 s).
    pre_speech_ms:
        Audio kept from before the VAD said speech started (500 ms), so the model hears the onset.
    max_duration_secs:
        The most audio the model hears (8 s, the model's window); older audio is dropped.
    threshold:
        Probability at or above which the model's answer counts as "complete" (0.9; Pipecat
        uses 0.5).
    trailing_secs:
        Silence after the last audio the VAD called speech that the model hears (0 s; ``None``:
        all of it, as Pipecat does). The VAD itself calls speech ~0.1 s past its true end.

    The defaults come from ``benchmarks/turn_eval.py`` on real speech (docs/turn-taking.md):
    the model's answer leans to "complete" as the silence it hears grows, so it hears none;
    at 0.5, whole sentences and sentences cut mid-way at a pause were told apart poorly (50 of
    60 cut-offs with Pipecat's settings, 31 with no trailing silence) and 0.9 brings the
    cut-offs under the 0.8 s VAD's (14 against 23 of 60) while the median end of turn stays
    at 0.32 s; the cap of 1.5 s keeps the turns the model doubts from waiting 3 s, with no
    more cut-offs at pauses of up to 1 s than a 3 s cap.
    """

    stop_secs: float = 1.5
    pre_speech_ms: float = 500.0
    max_duration_secs: float = 8.0
    threshold: float = 0.9
    trailing_secs: float | None = 0.0

    def __post_init__(self) -> None:
        if self.stop_secs <= 0:
            raise ConfigurationError(f"expected stop_secs > 0, got {self.stop_secs}")
        if self.pre_speech_ms < 0:
            raise ConfigurationError(f"expected pre_speech_ms >= 0, got {self.pre_speech_ms}")
        if not 0 < self.max_duration_secs <= 8:
            raise ConfigurationError(
                f"expected max_duration_secs in (0, 8], got {self.max_duration_secs}"
            )
        if not 0.0 <= self.threshold <= 1.0:
            raise ConfigurationError(f"expected threshold in [0, 1], got {self.threshold}")
        if self.trailing_secs is not None and self.trailing_secs < 0:
            raise ConfigurationError(f"expected trailing_secs >= 0, got {self.trailing_secs}")


@dataclass(frozen=True, slots=True)
class TurnMetricsData:
    """One model answer: ``probability`` of a complete turn, and the time from question to
    answer (queueing, features and inference) in ms."""

    processor: str
    is_complete: bool
    probability: float
    e2e_processing_time_ms: float


class _Session(Protocol):
    def run(
        self, output_names: list[str] | None, input_feed: dict[str, npt.NDArray[np.generic]]
    ) -> list[npt.NDArray[np.float32]]: ...


_session: _Session | None = None
_session_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class _Settings:
    model_path: str | None = None  # None: the bundled model
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    threads: int = 1
    max_batch: int = 1

    def model(self) -> tuple[str | None, tuple[str, ...], int]:
        return self.model_path, self.providers, self.threads


_settings = _Settings()


def configure_smart_turn(
    *,
    model_path: str | os.PathLike[str] | None = None,
    providers: Sequence[str] = ("CPUExecutionProvider",),
    threads: int = 1,
    max_batch: int = 1,
) -> None:
    """Which smart-turn model the process loads, where it runs, and how the shared batchers
    batch.

    ``model_path``: an ONNX file with the bundled model's input (``input_features``, N x 80 x
    800) in place of the bundled ``smart-turn-v3.2-cpu`` (for example a full-precision smart-turn
    v3 for a GPU); ``providers``: onnxruntime execution providers in order of preference (the
    installed onnxruntime must offer each); ``threads``: CPU threads of one inference;
    ``max_batch``: the largest batch of the shared batchers (:func:`get_turn_batcher`) made from
    now on. The defaults (the bundled model on the CPU, one thread, one question at a time) cost
    the least CPU per question measured: on a CPU a batch is no cheaper per question, so a
    larger ``max_batch`` pays only with an accelerator's provider (docs/turn-taking.md). Call it
    before the first question; once the model is loaded or a shared batcher runs, other
    settings raise :class:`~vani.errors.ConfigurationError` rather than silently not applying.
    """
    global _settings
    path = None if model_path is None else os.path.abspath(os.fspath(model_path))
    if path is not None and not os.path.isfile(path):
        raise ConfigurationError(f"no smart-turn model file at {path!r}")
    if threads < 1:
        raise ConfigurationError(f"expected threads >= 1, got {threads}")
    if max_batch < 1:
        raise ConfigurationError(f"expected max_batch >= 1, got {max_batch}")
    if isinstance(providers, str) or not providers:
        raise ConfigurationError(f"expected a non-empty list of provider names, got {providers!r}")
    wanted = _Settings(path, tuple(providers), threads, max_batch)
    if wanted == _settings:
        return  # every Pipecat-style analyzer repeats the settings: nothing to check again
    import onnxruntime

    available = onnxruntime.get_available_providers()
    missing = [p for p in providers if p not in available]
    if missing:
        raise ConfigurationError(
            f"this onnxruntime has no {', '.join(missing)}; it offers {', '.join(available)}"
        )
    with _session_lock:
        if wanted == _settings:
            return
        if _session is not None and wanted.model() != _settings.model():
            raise ConfigurationError(
                f"the smart-turn model is already loaded ({_settings.model_path or MODEL_FILE},"
                f" providers {list(_settings.providers)}, {_settings.threads} thread(s));"
                " call configure_smart_turn() before the first question"
            )
        if wanted.max_batch != _settings.max_batch and any(
            not loop.is_closed() for loop in _batchers
        ):
            raise ConfigurationError(
                f"a shared turn batcher already runs with max_batch={_settings.max_batch};"
                " call configure_smart_turn() before the first question"
            )
        _settings = wanted


def smart_turn_session() -> _Session:
    """The process-wide smart-turn ``InferenceSession``, created on first call. Thread-safe."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                _session = _load_session()
    return _session


def _load_session() -> _Session:
    import onnxruntime

    settings = _settings
    model = (
        importlib.resources.files("vani") / "models" / MODEL_FILE
        if settings.model_path is None
        else pathlib.Path(settings.model_path)
    )
    try:
        data = model.read_bytes()
    except OSError as exc:
        hint = (
            f" (expected it packaged as vani/models/{MODEL_FILE}; from a source tree run"
            " tools/devbuild.sh)"
            if settings.model_path is None
            else ""
        )
        raise ModelLoadError(f"cannot read the smart-turn model at {model}: {exc}{hint}") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = settings.threads
    options.inter_op_num_threads = 1
    try:
        loaded = onnxruntime.InferenceSession(
            data, sess_options=options, providers=list(settings.providers)
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"cannot load the smart-turn model: {exc}") from exc
    # A model with another input would fail on every question, far from its cause: say so here.
    inputs = [(i.name, list(i.shape)) for i in loaded.get_inputs()]
    if (
        len(inputs) != 1
        or inputs[0][0] != "input_features"
        or inputs[0][1][1:] != [N_MELS, N_FRAMES]
    ):
        raise ModelLoadError(
            f"{settings.model_path or MODEL_FILE} is not a smart-turn v3 model: expected one"
            f" input input_features [N, {N_MELS}, {N_FRAMES}], found {inputs}"
        )
    session: _Session = loaded
    return session


def _worker() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="vani-turn", initializer=_lower_priority
                )
    return _executor


def _lower_priority() -> None:
    """Make the calling thread ``WORKER_NICENESS`` steps nicer (Linux only: elsewhere
    ``PRIO_PROCESS`` names the whole process, which must keep its priority)."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    # A sandbox that forbids it leaves the thread at its priority; nothing else changes.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + WORKER_NICENESS)


def run_smart_turn(features: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """One inference over ``features`` [N, 80, 800]; the probabilities [N] that each turn is
    complete. Thread-safe."""
    (out,) = smart_turn_session().run(None, {"input_features": features})
    return np.asarray(out, dtype=np.float32).reshape(-1)


class TurnStream:
    """One stream's audio for the model: 16 kHz int16, the last ``max_duration_secs`` (plus
    the pre-speech margin) of it. Audio at 8 kHz or another supported rate is resampled on the
    way in. Not thread-safe; use from the event loop."""

    __slots__ = ("_buf", "_keep", "_resampler", "_speech_end", "_start", "sample_rate")

    def __init__(self, sample_rate: int = SAMPLE_RATE, *, keep_secs: float = 8.5) -> None:
        self.sample_rate = sample_rate
        self._resampler = (
            None if sample_rate == SAMPLE_RATE else StreamResampler(sample_rate, SAMPLE_RATE)
        )
        self._buf = bytearray()
        self._keep = int(keep_secs * SAMPLE_RATE) * 2
        # Byte offset in _buf where the model's segment starts (None: the whole buffer).
        self._start: int | None = None
        # Byte offset in _buf just after the last audio marked as speech.
        self._speech_end = 0

    def append(self, pcm: bytes | bytearray | memoryview) -> None:
        data = self._resampler.resample(pcm) if self._resampler is not None else pcm
        self._buf += data
        excess = len(self._buf) - self._keep
        if excess > 0:
            excess += excess & 1
            del self._buf[:excess]
            if self._start is not None:
                self._start = max(0, self._start - excess)
            self._speech_end = max(0, self._speech_end - excess)

    def mark_speech(self) -> None:
        """The audio so far ends with speech."""
        self._speech_end = len(self._buf)

    def mark_start(self, back_secs: float) -> None:
        """The segment starts ``back_secs`` before the end of the audio so far."""
        back = int(back_secs * SAMPLE_RATE) * 2
        self._start = max(0, len(self._buf) - back)

    def trim(self, keep_secs: float) -> None:
        """Keep only the last ``keep_secs`` (audio before any speech)."""
        keep = int(keep_secs * SAMPLE_RATE) * 2
        if len(self._buf) > keep:
            del self._buf[: len(self._buf) - keep]

    def segment(self, trailing_secs: float | None = None) -> npt.NDArray[np.float32]:
        """The audio the model hears: float32 in -1..1, at most 8 s, oldest first, ending at most
        ``trailing_secs`` after the last speech."""
        start = self._start or 0
        end = len(self._buf)
        if trailing_secs is not None:
            end = min(end, self._speech_end + int(trailing_secs * SAMPLE_RATE) * 2)
        raw = np.frombuffer(bytes(self._buf[start:end]), dtype=np.int16)[-N_SAMPLES:]
        return raw.astype(np.float32) / 32768.0

    def clear(self) -> None:
        self._buf.clear()
        self._start = None
        self._speech_end = 0
        if self._resampler is not None:
            self._resampler.reset()

    @property
    def duration_secs(self) -> float:
        return len(self._buf) / 2 / SAMPLE_RATE


class TurnBatcher:
    """Runs the questions of many streams through the model in batches.

    ``await analyze(audio)`` returns the probability that the turn in ``audio`` (float32 at
    16 kHz) is complete. Questions asked while a batch runs join the next one, up to
    ``max_batch`` per batch; a question whose asker gave up (cancelled) before its batch
    started costs nothing. With ``offload`` (the default) features and inference run on one
    worker thread: a batch holds the event loop for no time (a 42 ms inference inline would
    delay every call's audio that long).
    """

    def __init__(self, *, max_batch: int = 1, offload: bool = True) -> None:
        if max_batch < 1:
            raise ConfigurationError(f"expected max_batch >= 1, got {max_batch}")
        self.max_batch = max_batch
        self.offload = offload
        self._features = np.zeros((max_batch, N_MELS, N_FRAMES), dtype=np.float32)
        self._queue: list[tuple[npt.NDArray[np.float32], asyncio.Future[float]]] = []
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0
        self.skipped = 0

    async def analyze(self, audio: npt.NDArray[np.float32]) -> float:
        """The probability (0..1) that the turn ending ``audio`` is complete."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[float] = loop.create_future()
        self._queue.append((audio, done))
        if self._runner is None:
            self._runner = loop.create_task(self._run(), name="vani-turn-batcher")
        return await done

    async def wait_idle(self) -> None:
        """Return once no batch runs or waits (a batch already on the worker thread finishes
        even when all its askers gave up)."""
        while self._runner is not None:
            await asyncio.wait({self._runner})

    def run_batch(self, audios: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        """Features and one inference for up to ``max_batch`` segments, on the calling thread."""
        n = len(audios)
        features = self._features[:n]
        for i, audio in enumerate(audios):
            log_mel_features(audio, out=features[i])
        return run_smart_turn(features)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        batch: list[tuple[npt.NDArray[np.float32], asyncio.Future[float]]] = []
        try:
            while self._queue:
                batch = []
                while self._queue and len(batch) < self.max_batch:
                    item = self._queue.pop(0)
                    if item[1].done():  # the asker gave up: the user spoke again
                        self.skipped += 1
                        continue
                    batch.append(item)
                if not batch:
                    continue
                audios = [a for a, _ in batch]
                if self.offload:
                    probs = await loop.run_in_executor(_worker(), self.run_batch, audios)
                else:
                    probs = self.run_batch(audios)
                self.batches += 1
                self.items += len(batch)
                for (_, done), p in zip(batch, probs.tolist(), strict=True):
                    if not done.done():
                        done.set_result(p)
                batch = []
                if not self.offload:
                    await asyncio.sleep(0)
        except Exception as exc:
            # Every waiter learns of the failure; none is left hanging.
            self._fail(batch, exc)
        except asyncio.CancelledError:
            self._fail(batch, None)
            raise
        finally:
            self._runner = None

    def _fail(
        self,
        batch: list[tuple[npt.NDArray[np.float32], asyncio.Future[float]]],
        exc: Exception | None,
    ) -> None:
        for _, done in batch + self._queue:
            if not done.done():
                if exc is None:
                    done.cancel()
                else:
                    done.set_exception(exc)
        self._queue.clear()


_batchers: dict[asyncio.AbstractEventLoop, TurnBatcher] = {}


def get_turn_batcher() -> TurnBatcher:
    """The batcher shared by every turn analyzer on the running event loop."""
    loop = asyncio.get_running_loop()
    batcher = _batchers.get(loop)
    if batcher is None:
        for stale in [k for k in _batchers if k.is_closed()]:
            del _batchers[stale]
        batcher = _batchers[loop] = TurnBatcher(max_batch=_settings.max_batch)
    return batcher


class SmartTurnAnalyzer:
    """End-of-turn analysis of one audio stream with the shared smart-turn model.

    Feed every input audio chunk with :meth:`append_audio` (16-bit mono PCM, ``is_speech``:
    whether the VAD considers the user speaking); when the VAD reports a pause, ``await
    analyze_end_of_turn()`` asks the model. ``append_audio`` itself returns ``COMPLETE`` once
    ``params.stop_secs`` of silence followed speech (the cap). :meth:`clear` forgets the turn.
    ``batcher`` defaults to the loop's shared one; ``sample_rate`` (8000, 16000 or another rate
    the core resamples) may also be set later with :meth:`set_sample_rate`.

    Pipecat's ``smart_turn_model_path`` and ``cpu_count`` are accepted; as every analyzer in
    the process shares one model, they are :func:`configure_smart_turn`'s ``model_path`` and
    ``threads``, and an analyzer asking for other settings than the loaded model's raises
    :class:`~vani.errors.ConfigurationError`.
    """

    def __init__(
        self,
        *,
        sample_rate: int | None = None,
        params: SmartTurnParams | None = None,
        batcher: TurnBatcher | None = None,
        smart_turn_model_path: str | None = None,
        cpu_count: int | None = None,
    ) -> None:
        if smart_turn_model_path or cpu_count is not None:
            # Pipecat's per-analyzer settings name the one model every analyzer here shares.
            now = _settings
            configure_smart_turn(
                model_path=smart_turn_model_path or now.model_path,
                providers=now.providers,
                threads=now.threads if cpu_count is None else cpu_count,
                max_batch=now.max_batch,
            )
        self._params = params or SmartTurnParams()
        self._batcher = batcher
        self._sample_rate = 0
        self._stream: TurnStream | None = None
        self._speech_triggered = False
        self._silence_samples = 0
        self._vad_start_secs = 0.0
        if sample_rate:
            self.set_sample_rate(sample_rate)

    @property
    def params(self) -> SmartTurnParams:
        return self._params

    @property
    def sample_rate(self) -> int:
        return self._sample_rate

    @property
    def speech_triggered(self) -> bool:
        """Whether speech was heard since the last :meth:`clear`."""
        return self._speech_triggered

    def set_sample_rate(self, sample_rate: int) -> None:
        """The rate of the PCM given to :meth:`append_audio` (forgets any buffered audio)."""
        if sample_rate != self._sample_rate:
            self._sample_rate = sample_rate
            keep = self._params.max_duration_secs + self._params.pre_speech_ms / 1000 + 1.0
            self._stream = TurnStream(sample_rate, keep_secs=keep)
            self._speech_triggered = False

    def update_vad_start_secs(self, vad_start_secs: float) -> None:
        """The VAD's ``start_secs``: that much more audio is kept before the speech start."""
        self._vad_start_secs = vad_start_secs

    def append_audio(self, buffer: bytes, is_speech: bool) -> EndOfTurnState:
        """Add one chunk of audio; ``COMPLETE`` when the silence after speech reached the cap."""
        stream = self._stream
        if stream is None:
            raise ConfigurationError("expected set_sample_rate() before append_audio()")
        stream.append(buffer)
        pre = self._params.pre_speech_ms / 1000 + self._vad_start_secs
        if is_speech:
            if not self._speech_triggered:
                self._speech_triggered = True
                stream.mark_start(pre + len(buffer) / 2 / self._sample_rate)
            self._silence_samples = 0
            stream.mark_speech()
            return EndOfTurnState.INCOMPLETE
        if not self._speech_triggered:
            stream.trim(pre + 0.1)
            return EndOfTurnState.INCOMPLETE
        self._silence_samples += len(buffer) // 2
        if self._silence_samples >= self._params.stop_secs * self._sample_rate:
            self.clear()
            return EndOfTurnState.COMPLETE
        return EndOfTurnState.INCOMPLETE

    @property
    def silence_secs(self) -> float:
        """Silence since the user last spoke, in seconds of audio."""
        return self._silence_samples / self._sample_rate if self._sample_rate else 0.0

    async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, TurnMetricsData | None]:
        """Ask the model whether the turn heard so far is complete; a complete turn is cleared.
        With no speech heard yet the answer is ``INCOMPLETE`` with no metrics."""
        if self._stream is None or not self._speech_triggered:
            return EndOfTurnState.INCOMPLETE, None
        audio = self._stream.segment(self._params.trailing_secs)
        if audio.size == 0:
            return EndOfTurnState.INCOMPLETE, None
        batcher = self._batcher or get_turn_batcher()
        began = time.perf_counter()
        probability = await batcher.analyze(audio)
        complete = probability >= self._params.threshold
        metrics = TurnMetricsData(
            processor="SmartTurnAnalyzer",
            is_complete=complete,
            probability=probability,
            e2e_processing_time_ms=(time.perf_counter() - began) * 1000,
        )
        if complete:
            self.clear()
            return EndOfTurnState.COMPLETE, metrics
        return EndOfTurnState.INCOMPLETE, metrics

    def predict_sync(self) -> float:
        """The model's probability for the audio so far, computed here, unbatched."""
        if self._stream is None:
            return 0.0
        audio = self._stream.segment(self._params.trailing_secs)
        return float(run_smart_turn(log_mel_features(audio)[None])[0])

    def clear(self) -> None:
        """Forget the turn: audio, speech flag and silence count."""
        if self._stream is not None:
            self._stream.clear()
        self._speech_triggered = False
        self._silence_samples = 0

    async def cleanup(self) -> None:
        """Nothing to release (the model and its thread are shared); for Pipecat's API."""


#: Pipecat's name for the same analyzer (there, one model and thread per analyzer; here, one
#: per process).
LocalSmartTurnAnalyzerV3 = SmartTurnAnalyzer
