"""A LiveKit Agents VAD plugin on vani's compiled, batched Silero (extra ``vani[livekit]``).

``livekit-plugins-silero`` runs one inference per 32 ms window per stream, each on a thread
executor. :class:`VAD` is a drop-in for ``silero.VAD``: the same ``load`` arguments, the same
events (``START_OF_SPEECH``, ``INFERENCE_DONE``, ``END_OF_SPEECH``) with their fields, and the
same speech rules (activation and deactivation thresholds over the smoothed probability,
``min_speech_duration``, ``min_silence_duration``, prefix padding), while the windows of every
stream on the event loop go through shared batched inferences::

    from vani.contrib.livekit import VAD

    vad = VAD.load()                      # was: silero.VAD.load()

Guide: docs/embedding.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from livekit import rtc
from livekit.agents import vad as agents_vad

from vani.audio.resample import StreamResampler
from vani.audio.silero import SUPPORTED_RATES, SileroStream, get_batcher
from vani.audio.vad_params import VADParams
from vani.errors import ConfigurationError

__all__ = ["VAD", "VADOptions", "VADStream"]

# LiveKit's Silero plugin smooths probabilities with this factor (new = a·old + (1-a)·sample).
_SMOOTHING = 0.35
_UNUSED = VADParams(confidence=0.5, start_secs=0.0, stop_secs=0.0, min_volume=0.0)


@dataclass(slots=True)
class VADOptions:
    """The plugin's options; names, meanings and defaults are ``silero.VAD.load``'s."""

    min_speech_duration: float = 0.05
    min_silence_duration: float = 0.55
    prefix_padding_duration: float = 0.5
    max_buffered_speech: float = 60.0
    activation_threshold: float = 0.5
    deactivation_threshold: float = 0.35
    sample_rate: int = 16000


class VAD(agents_vad.VAD):  # type: ignore[misc]
    """A LiveKit ``vad.VAD`` whose streams share vani's batched Silero inference."""

    @classmethod
    def load(
        cls,
        *,
        min_speech_duration: float = 0.05,
        min_silence_duration: float = 0.55,
        prefix_padding_duration: float = 0.5,
        max_buffered_speech: float = 60.0,
        activation_threshold: float = 0.5,
        sample_rate: Literal[8000, 16000] = 16000,
        force_cpu: bool = True,
        deactivation_threshold: float | None = None,
    ) -> VAD:
        """As ``silero.VAD.load`` (``force_cpu`` is accepted; vani's Silero runs on the CPU).
        Cheap: the model is loaded once per process, on first use."""
        if sample_rate not in SUPPORTED_RATES:
            raise ConfigurationError(
                f"expected a vad sample rate of 8000 or 16000 Hz, got {sample_rate}"
            )
        if deactivation_threshold is not None and deactivation_threshold <= 0:
            raise ConfigurationError(
                f"expected deactivation_threshold > 0, got {deactivation_threshold}"
            )
        return cls(
            opts=VADOptions(
                min_speech_duration=min_speech_duration,
                min_silence_duration=min_silence_duration,
                prefix_padding_duration=prefix_padding_duration,
                max_buffered_speech=max_buffered_speech,
                activation_threshold=activation_threshold,
                deactivation_threshold=(
                    deactivation_threshold
                    if deactivation_threshold is not None
                    else max(activation_threshold - 0.15, 0.01)
                ),
                sample_rate=sample_rate,
            )
        )

    def __init__(self, *, opts: VADOptions | None = None) -> None:
        super().__init__(capabilities=agents_vad.VADCapabilities(update_interval=0.032))
        self._opts = opts or VADOptions()

    @property
    def model(self) -> str:
        return "silero"

    @property
    def provider(self) -> str:
        return "vani"

    @property
    def options(self) -> VADOptions:
        """The options new streams start with (each stream reads them on every window)."""
        return self._opts

    def stream(self) -> VADStream:
        """A new stream; call from a running event loop."""
        return VADStream(self, self._opts)


class VADStream(agents_vad.VADStream):  # type: ignore[misc]
    """One audio stream's VAD: push ``rtc.AudioFrame`` s, iterate ``VADEvent`` s."""

    def __init__(self, vad: VAD, opts: VADOptions) -> None:
        self._opts = opts
        self._silero = SileroStream(opts.sample_rate, _UNUSED, keep_probabilities=True)
        super().__init__(vad)

    def _emit(self, kind: agents_vad.VADEventType, **fields: object) -> None:
        self._event_ch.send_nowait(agents_vad.VADEvent(type=kind, **fields))

    async def _main_task(self) -> None:
        opts, silero = self._opts, self._silero
        batcher = get_batcher(opts.sample_rate)
        window = silero.windower.window_size
        window_secs = window / opts.sample_rate
        in_rate = 0
        resampler: StreamResampler | None = None
        pending = bytearray()  # input audio not yet matched to an analyzed window
        speech = bytearray()  # the current speech, with its prefix padding (input rate)
        carry = 0.0
        smoothed: float | None = None
        speaking = False
        speech_secs = silence_secs = 0.0  # published durations
        run_speech = run_silence = 0.0  # consecutive windows over / under the thresholds
        sample = 0
        timestamp = 0.0

        def frame(data: bytes | bytearray) -> rtc.AudioFrame:
            return rtc.AudioFrame(
                data=bytes(data),
                sample_rate=in_rate,
                num_channels=1,
                samples_per_channel=len(data) // 2,
            )

        def keep_prefix() -> None:
            keep = int(opts.prefix_padding_duration * in_rate) * 2
            if len(speech) > keep:
                del speech[: len(speech) - keep]

        async for item in self._input_ch:
            if not isinstance(item, rtc.AudioFrame):  # flush: a hard segment boundary
                silero.reset()
                silero.take_events()
                if silero.probabilities is not None:
                    silero.probabilities.clear()
                if resampler is not None:
                    resampler.reset()
                pending.clear()
                speech.clear()
                carry, smoothed, speaking = 0.0, None, False
                speech_secs = silence_secs = run_speech = run_silence = 0.0
                sample, timestamp = 0, 0.0
                continue
            if not in_rate:
                in_rate = item.sample_rate
                if in_rate != opts.sample_rate:
                    resampler = StreamResampler(in_rate, opts.sample_rate)
            elif item.sample_rate != in_rate:
                raise ConfigurationError(
                    f"expected frames at {in_rate} Hz as before, got {item.sample_rate} Hz"
                )
            if item.num_channels != 1:
                raise ConfigurationError(f"expected mono frames, got {item.num_channels} channels")
            pcm = bytes(item.data.cast("B"))
            pending += pcm
            began = time.perf_counter()
            if silero.feed(resampler.resample(pcm) if resampler is not None else pcm):
                # No timeout around this await: the batcher answers every waiter.
                await batcher.analyze(silero)
            silero.take_events()
            probabilities = silero.probabilities
            if not probabilities:
                continue
            scores = list(probabilities)
            probabilities.clear()
            per_window = (time.perf_counter() - began) / len(scores)
            max_speech = int((opts.max_buffered_speech + opts.prefix_padding_duration) * in_rate)
            for raw in scores:
                p = raw if smoothed is None else _SMOOTHING * smoothed + (1 - _SMOOTHING) * raw
                smoothed = p
                sample += window
                timestamp += window_secs
                take = window * in_rate / opts.sample_rate + carry
                n = int(take)
                carry = take - n
                chunk = bytes(pending[: n * 2])
                del pending[: n * 2]
                room = max_speech * 2 - len(speech)
                if room > 0:
                    speech += chunk[:room]
                if speaking:
                    speech_secs += window_secs
                else:
                    silence_secs += window_secs
                self._emit(
                    agents_vad.VADEventType.INFERENCE_DONE,
                    samples_index=sample,
                    timestamp=timestamp,
                    silence_duration=silence_secs,
                    speech_duration=speech_secs,
                    probability=p,
                    inference_duration=per_window,
                    frames=[frame(chunk)],
                    speaking=speaking,
                    raw_accumulated_silence=run_silence,
                    raw_accumulated_speech=run_speech,
                )
                if p >= opts.activation_threshold or (speaking and p > opts.deactivation_threshold):
                    run_speech += window_secs
                    run_silence = 0.0
                    if not speaking and run_speech >= opts.min_speech_duration:
                        speaking = True
                        silence_secs, speech_secs = 0.0, run_speech
                        self._emit(
                            agents_vad.VADEventType.START_OF_SPEECH,
                            samples_index=sample,
                            timestamp=timestamp,
                            silence_duration=0.0,
                            speech_duration=speech_secs,
                            frames=[frame(speech)],
                            speaking=True,
                        )
                else:
                    run_silence += window_secs
                    run_speech = 0.0
                    if not speaking:
                        keep_prefix()
                    elif run_silence >= opts.min_silence_duration:
                        speaking = False
                        silence_secs = run_silence
                        self._emit(
                            agents_vad.VADEventType.END_OF_SPEECH,
                            samples_index=sample,
                            timestamp=timestamp,
                            silence_duration=silence_secs,
                            speech_duration=max(0.0, speech_secs - run_silence),
                            frames=[frame(speech)],
                            speaking=False,
                        )
                        speech_secs = 0.0
                        keep_prefix()
