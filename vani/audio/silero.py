"""Silero VAD: one ONNX session per process, per-stream state, and cross-stream batching.

The model (``vani/models/silero_vad.onnx``, MIT) is loaded once, lazily, on first use, with one
intra-op and one inter-op thread, and shared by every stream in the process. A stream
(:class:`SileroStream`) owns only what is its own: the windower, the state machine and its
LSTM state (2 × 128 float32). :class:`SileroBatcher` gathers the windows that are ready across
all streams of one sample rate and runs them as one inference (batch dimension N, one window per
stream per run since a stream's next window needs the state its previous one produced), then
scatters probabilities and states back.

Batches hold at most 32 windows and run inline: each turn of the batcher runs one window of every
ready stream (200 streams: 7 batches, about 4 ms), then yields to the event loop. The shipped
graph is Silero VAD v5 with its 16 kHz STFT and encoder convolutions computed as matrix
products over the whole batch (onnxruntime runs a 1-D convolution one batch item at a time;
see docs/performance.md): measured here it costs ~90 µs for one window alone, ~20 µs per window
in batches of 16 and ~16 µs from 64 up, where the upstream graph costs ~110 µs and ~55 µs. A
worker thread (``offload=True``) lets the loop run during inference, but every result then
waits for the GIL (up to a switch interval) and on one or two busy cores 200 sessions fell
further behind with it than without, so it is off by default.

Live streams' windows arrive spread over each 32 ms, so a batcher that ran whatever was ready at
each loop turn ran one to three windows at a time, at up to four times the cost per window of a
batch of 16. So a round waits up to ``gather_secs`` (12 ms) for more streams to become ready,
and stops waiting as soon as ``gather_windows`` (16) are, or every stream that asked for
analysis in the last 64 ms is: a stream alone, or streams fed faster than real time, never wait.
The VAD's decisions come at most that much later; what the caller hears does not move.

onnxruntime is imported on first use only: importing vani does not import it.
"""

from __future__ import annotations

import asyncio
import importlib.resources
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

import numpy as np
import numpy.typing as npt

from vani._core.vad import VADEvent, VADStateMachine, VADWindower
from vani.errors import ConfigurationError, ModelLoadError

if TYPE_CHECKING:
    from typing_extensions import Buffer

    from vani.audio.vad_params import VADParams

__all__ = ["SileroBatcher", "SileroStream", "get_batcher", "silero_session"]

STATE_SIZE = 128
# Two windows (64 ms at 16 kHz): every live stream asks for analysis at least once in it.
_ACTIVE_PERIOD = 0.064
SUPPORTED_RATES = (8000, 16000)


class _Session(Protocol):
    def run(
        self, output_names: list[str] | None, input_feed: dict[str, npt.NDArray[np.generic]]
    ) -> list[npt.NDArray[np.float32]]: ...


_session: _Session | None = None
_session_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_SR = {rate: np.array(rate, dtype=np.int64) for rate in SUPPORTED_RATES}


def silero_session() -> _Session:
    """The process-wide Silero ``InferenceSession``, created on first call. Thread-safe."""
    global _session
    if _session is None:
        with _session_lock:
            if _session is None:
                _session = _load_session()
    return _session


def _load_session() -> _Session:
    import onnxruntime

    model = importlib.resources.files("vani") / "models" / "silero_vad.onnx"
    try:
        data = model.read_bytes()
    except OSError as exc:
        raise ModelLoadError(
            f"cannot read the silero vad model at {model}: {exc} (expected it packaged as"
            " vani/models/silero_vad.onnx; from a source tree run tools/devbuild.sh)"
        ) from exc
    options = onnxruntime.SessionOptions()
    # One thread each: many sessions share the process and batching gives the throughput;
    # more threads per call only fight each other and the event loop for the same cores.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    try:
        session: _Session = onnxruntime.InferenceSession(
            data, sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelLoadError(f"cannot load the silero vad model: {exc}") from exc
    return session


def _worker() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        with _executor_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vani-vad")
    return _executor


def run_silero(
    inputs: npt.NDArray[np.float32], state: npt.NDArray[np.float32], sample_rate: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """One inference over ``inputs`` [N, row] and ``state`` [2, N, 128]; returns the speech
    probabilities [N] and the next state [2, N, 128]. Thread-safe (onnxruntime's ``run`` is)."""
    out, next_state = silero_session().run(
        None, {"input": inputs, "state": state, "sr": _SR[sample_rate]}
    )
    return out[:, 0], next_state


class SileroStream:
    """One audio stream's VAD: its windower, state machine and LSTM state.

    Not thread-safe; use from one thread (the event loop). ``keep_probabilities`` records each
    window's speech probability in :attr:`probabilities` (for tests and tuning).
    """

    __slots__ = (
        "_done",
        "_events",
        "_idx",
        "_row",
        "_src",
        "_volume",
        "machine",
        "probabilities",
        "sample_rate",
        "windower",
    )

    def __init__(
        self, sample_rate: int, params: VADParams, *, keep_probabilities: bool = False
    ) -> None:
        if sample_rate not in SUPPORTED_RATES:
            raise ConfigurationError(
                f"expected a vad sample rate of 8000 or 16000 Hz, got {sample_rate}"
            )
        self.sample_rate = sample_rate
        self.windower = VADWindower(sample_rate)
        self.machine = VADStateMachine(
            sample_rate, params.confidence, params.start_secs, params.stop_secs, params.min_volume
        )
        # The LSTM state is row ``_idx`` of ``_src`` [2, N, 128]: after a batch that is the
        # batch's own output, so a batch of the same streams in the same order next time runs on
        # it as it is, with no gather or scatter per stream.
        self._src: npt.NDArray[np.float32] = np.zeros((2, 1, STATE_SIZE), dtype=np.float32)
        self._idx = 0
        self.probabilities: list[float] | None = [] if keep_probabilities else None
        self._events: list[VADEvent] = []
        self._done: asyncio.Future[list[VADEvent]] | None = None
        self._row: npt.NDArray[np.float32] | None = None
        self._volume = 0.0

    @property
    def state(self) -> npt.NDArray[np.float32]:
        """The LSTM state, [2, 128] float32 (a view)."""
        return self._src[:, self._idx, :]

    def feed(self, pcm: Buffer) -> int:
        """Buffer PCM (int16 little-endian mono bytes); return the windows ready to analyze."""
        return self.windower.feed(pcm)

    def _advance(self, prob: float, volume: float) -> None:
        if self.probabilities is not None:
            self.probabilities.append(prob)
        events = self.machine.push(prob, volume)
        if events:  # most windows change nothing
            self._events += events

    def take_events(self) -> list[VADEvent]:
        """The transitions found since the last call (batched analysis leaves them here)."""
        events, self._events = self._events, []
        return events

    def analyze_now(self) -> list[VADEvent]:
        """Run every ready window through the model here and now, one inference each (batch of
        one, on the calling thread); return the transitions."""
        if self._row is None:
            self._row = np.zeros((1, self.windower.row_size), dtype=np.float32)
        while self.windower.pending:
            volume = self.windower.take(self._row, 0)
            state = np.ascontiguousarray(self.state)[:, None, :]
            probs, next_state = run_silero(self._row, state, self.sample_rate)
            self._src, self._idx = next_state, 0
            self._advance(float(probs[0]), volume)
        return self.take_events()

    def flush_now(self) -> list[VADEvent]:
        """End of stream: analyze the zero-padded tail, then close any open turn."""
        self.windower.flush()
        events = self.analyze_now()
        return events + self.machine.flush()

    def reset_model_state(self) -> None:
        """Zero the LSTM state only (buffered audio and the state machine carry on)."""
        self._src = np.zeros((2, 1, STATE_SIZE), dtype=np.float32)
        self._idx = 0

    def reset(self) -> None:
        """Forget all audio and model state; the stream starts again at time zero."""
        self.windower.reset()
        self.machine.reset()
        self._src = np.zeros((2, 1, STATE_SIZE), dtype=np.float32)
        self._idx = 0
        self._events.clear()


class SileroBatcher:
    """Runs the ready windows of many :class:`SileroStream` s of one sample rate as one batch.

    Use from one event loop. ``await analyze(stream)`` returns once all of the stream's ready
    windows went through the model, with the transitions they caused. Streams that become ready
    while a batch runs join the next one. ``max_batch`` bounds a batch (and so how long the loop
    is held); ``offload`` runs inference on a single worker thread instead (see the module
    docstring for why it is off by default). ``gather_secs`` / ``gather_windows``: how long a
    round may wait for more ready streams, and how many are enough (0 s: never wait).
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        max_batch: int = 32,
        offload: bool = False,
        gather_secs: float = 0.012,
        gather_windows: int = 16,
    ) -> None:
        if sample_rate not in SUPPORTED_RATES:
            raise ConfigurationError(
                f"expected a vad sample rate of 8000 or 16000 Hz, got {sample_rate}"
            )
        if not 0.0 <= gather_secs <= 0.032:
            raise ConfigurationError(
                f"expected gather_secs between 0 and 0.032 s (one window), got {gather_secs}"
            )
        if gather_windows < 1:
            raise ConfigurationError(f"expected gather_windows of at least 1, got {gather_windows}")
        self.sample_rate = sample_rate
        self.max_batch = max_batch
        self.offload = offload
        self.gather_secs = gather_secs
        self.gather_windows = min(gather_windows, max_batch)
        # Streams that asked for analysis in the current and the previous period: how many
        # a batch can hope to gather (one stream alone, or a file fed faster than real time,
        # never waits).
        self._period_start = 0.0
        self._period_streams: set[SileroStream] = set()
        self._active = 0
        self._gather: asyncio.Future[None] | None = None
        self._gather_target = 0
        row = VADWindower(sample_rate).row_size
        self._inputs = np.zeros((max_batch, row), dtype=np.float32)
        self._state = np.zeros((2, max_batch, STATE_SIZE), dtype=np.float32)
        self._volumes = [0.0] * max_batch
        self._ready: dict[SileroStream, None] = {}
        self._runner: asyncio.Task[None] | None = None
        self.batches = 0
        self.windows = 0
        self.gather_waits = 0  # rounds that waited for more streams

    async def analyze(self, stream: SileroStream) -> list[VADEvent]:
        """Analyze every ready window of ``stream``; return the transitions, in order."""
        if stream.sample_rate != self.sample_rate:
            raise ConfigurationError(
                f"expected a stream at {self.sample_rate} Hz, got {stream.sample_rate}"
            )
        if not stream.windower.pending:
            return stream.take_events()
        done = stream._done
        if done is None or done.done():
            # A waiter cancelled earlier leaves a done future behind; the stream may still be
            # queued, and its events wait in it for this call.
            loop = asyncio.get_running_loop()
            done = stream._done = loop.create_future()
            self._ready[stream] = None
            self._count_active(stream, loop.time())
            gather = self._gather
            if gather is not None and len(self._ready) >= self._gather_target:
                _resolve(gather)
            if self._runner is None:
                self._runner = loop.create_task(
                    self._run(), name=f"vani-vad-batcher-{self.sample_rate}"
                )
        return await done

    def _count_active(self, stream: SileroStream, now: float) -> None:
        if now - self._period_start >= _ACTIVE_PERIOD:
            self._active = len(self._period_streams)
            self._period_streams = set()
            self._period_start = now
        self._period_streams.add(stream)

    async def _gather_ready(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait up to ``gather_secs`` for more streams to become ready, so the batch runs near
        the model's best cost per window instead of one or two windows at a time."""
        target = min(self.gather_windows, max(self._active, len(self._period_streams)))
        if self.gather_secs <= 0.0 or len(self._ready) >= target:
            return
        self.gather_waits += 1
        gather = self._gather = loop.create_future()
        self._gather_target = target
        timer = loop.call_later(self.gather_secs, _resolve, gather)
        try:
            await gather
        finally:
            timer.cancel()
            self._gather = None

    def discard(self, stream: SileroStream) -> None:
        """Stop analyzing ``stream`` (its owner is gone); its pending waiter is cancelled."""
        self._ready.pop(stream, None)
        self._period_streams.discard(stream)
        if stream._done is not None and not stream._done.done():
            stream._done.cancel()
        stream._done = None

    def _fill(self, streams: list[SileroStream]) -> npt.NDArray[np.float32]:
        """Write each stream's next window into the batch; return the batch's state tensor."""
        n = len(streams)
        inputs, volumes = self._inputs, self._volumes
        same: npt.NDArray[np.float32] | None = streams[0]._src
        for i, s in enumerate(streams):
            volumes[i] = s.windower.take(inputs, i)
            if s._src is not same or s._idx != i:
                same = None
        if same is not None and same.shape[1] == n:
            return same  # the same streams as last time, in order: their state is ready
        # Otherwise one C loop gathers every stream's state into the batch tensor.
        state = self._state[:, :n, :]
        np.stack([s.state for s in streams], axis=1, out=state)
        return state

    def _scatter(
        self,
        streams: list[SileroStream],
        probs: npt.NDArray[np.float32],
        next_state: npt.NDArray[np.float32],
    ) -> None:
        self.batches += 1
        self.windows += len(streams)
        volumes = self._volumes
        # Each stream's state stays in the fresh output (row i), no copy; ``tolist`` turns the
        # probabilities into floats in one call.
        for i, (s, p) in enumerate(zip(streams, probs.tolist(), strict=True)):
            s._src = next_state
            s._idx = i
            s._advance(p, volumes[i])

    def analyze_sync(self, streams: list[SileroStream]) -> None:
        """Run every ready window of ``streams`` through the model in batches, on the calling
        thread; each stream's transitions wait in it (``SileroStream.take_events``). Not to be
        mixed with :meth:`analyze` on the same streams."""
        ready = [s for s in streams if s.windower.pending]
        while ready:
            for start in range(0, len(ready), self.max_batch):
                batch = ready[start : start + self.max_batch]
                state = self._fill(batch)
                probs, next_state = run_silero(self._inputs[: len(batch)], state, self.sample_rate)
                self._scatter(batch, probs, next_state)
            ready = [s for s in ready if s.windower.pending]

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._ready:
                await self._gather_ready(loop)
                # Every stream ready now gets one window in, in batches of at most max_batch run
                # back to back; only then does the loop get a turn. Yielding after each batch
                # instead ties inference throughput to loop turns, and at 200 sessions the
                # backlog grew without bound.
                ready = list(self._ready)
                for start in range(0, len(ready), self.max_batch):
                    streams = [
                        s
                        for s in ready[start : start + self.max_batch]
                        if s in self._ready and s.windower.pending
                    ]
                    if not streams:
                        continue
                    state = self._fill(streams)
                    inputs = self._inputs[: len(streams)]
                    if self.offload:
                        probs, next_state = await loop.run_in_executor(
                            _worker(), run_silero, inputs, state, self.sample_rate
                        )
                    else:
                        probs, next_state = run_silero(inputs, state, self.sample_rate)
                    self._scatter(streams, probs, next_state)
                    for s in streams:
                        if not s.windower.pending and s in self._ready:
                            del self._ready[s]
                            done, s._done = s._done, None
                            if done is not None and not done.done():
                                done.set_result(s.take_events())
                if self._ready and not self.offload:
                    # Streams with more windows wait one loop turn: it serves frames meanwhile.
                    await asyncio.sleep(0)
        except Exception as exc:
            # A failed inference is delivered to every waiting stream, not left in this task
            # (nobody awaits it) and not left as waiters that hang forever.
            self._fail(exc)
        except asyncio.CancelledError:
            self._fail(None)
            raise
        finally:
            self._runner = None

    def _fail(self, exc: Exception | None) -> None:
        for s in list(self._ready):
            done, s._done = s._done, None
            if done is not None and not done.done():
                if exc is None:
                    done.cancel()
                else:
                    done.set_exception(exc)
        self._ready.clear()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_batchers: dict[tuple[asyncio.AbstractEventLoop, int], SileroBatcher] = {}


def get_batcher(sample_rate: int) -> SileroBatcher:
    """The batcher shared by every stream of ``sample_rate`` on the running event loop."""
    loop = asyncio.get_running_loop()
    key = (loop, sample_rate)
    batcher = _batchers.get(key)
    if batcher is None:
        # Drop batchers of loops that have closed (tests open one loop per test).
        for stale in [k for k in _batchers if k[0].is_closed()]:
            del _batchers[stale]
        batcher = _batchers[key] = SileroBatcher(sample_rate)
    return batcher
