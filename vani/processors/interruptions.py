"""When the user's speech may cut the bot off, and taking the bot's reply back up after a false
alarm. Guide: docs/turn-taking.md.

:class:`InterruptionGate` sits after the STT and before the user aggregator, with the VAD told
not to interrupt by itself (``VADProcessor(interrupt=False)``)::

    Pipeline([transport.input(), VADProcessor(interrupt=False), stt,
              InterruptionGate(context), aggregators.user(), llm, tts, transport.output(),
              aggregators.assistant()])

* **Gates**: while the bot speaks, a barge-in needs ``speaking.min_duration_secs`` of the user's
  speech (counted between the VAD's frames, corrected for its start and stop, so it is decided
  up to the VAD's ``stop_secs`` after the speech reached it) and/or ``speaking.min_words`` words
  of transcript (interim or final); while it thinks
  (the user's turn ended, no bot audio yet), ``thinking`` holds the same two numbers. With both
  set, ``require="any"`` (default) lets either through, ``"all"`` needs both.
* **Uninterruptible speech**: while a ``TTSSpeakFrame(uninterruptible=True)`` plays, nothing
  interrupts; the user's audio and words still go on downstream, so their turn is answered
  after it.
* **False interruptions**: after a barge-in while the bot spoke, if no transcript came within
  ``false_interruption_timeout_secs`` of the user stopping (on the wall clock, or in the
  caller's audio that followed, whichever comes first: a file run on a virtual clock streams
  its silence faster than real time and must time out too), or the transcript is only a
  backchannel ("mm-hm", "haan", "accha", "ok": :data:`BACKCHANNELS`, per language), the
  backchannel is dropped and the bot takes its reply back up from the first sentence the user did
  not hear, written into the context as a reply of its own (so the context holds what was
  played). Real words that come after it resumed (a slow STT) cut the resumed reply
  again and make the user's turn.
"""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from vani.errors import ConfigurationError
from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FrameDirection,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.processors import FrameProcessor
from vani.processors.aggregators.llm_context import LLMContext
from vani.processors.text import split_sentences

__all__ = [
    "BACKCHANNELS",
    "GateParams",
    "InterruptionGate",
    "InterruptionParams",
    "is_backchannel",
    "resume_text",
]

#: Short listener replies that do not take the turn, per language (lowercase, no punctuation).
#: English also lists the sounds a speech-to-text writes for a hum or a hesitation with no word
#: after it ("m", "hm", "uh", "um"): over the bot's reply they are not a turn either.
BACKCHANNELS: dict[str, frozenset[str]] = {
    "en": frozenset(
        {
            "m",
            "hm",
            "mmm",
            "uh",
            "um",
            "ah",
            "oh",
            "mm",
            "mhm",
            "mm hm",
            "mm-hm",
            "mmhmm",
            "hmm",
            "uh huh",
            "uh-huh",
            "yeah",
            "yes",
            "yep",
            "ok",
            "okay",
            "right",
            "sure",
            "i see",
            "got it",
            "alright",
        }
    ),
    "hi": frozenset(
        {
            "haan",
            "haan ji",
            "han",
            "ji",
            "ji haan",
            "accha",
            "acha",
            "achha",
            "theek hai",
            "thik hai",
            "hmm",
            "ok",
            "हाँ",
            "हां",
            "हाँ जी",
            "जी",
            "जी हाँ",
            "अच्छा",
            "ठीक है",
            "हम्म",
        }
    ),
    "ta": frozenset({"aamaa", "sari", "ok", "ஆமா", "சரி", "ம்ம்"}),
    "te": frozenset({"avunu", "sare", "ok", "అవును", "సరే"}),
    "bn": frozenset({"haan", "accha", "thik ache", "ok", "হ্যাঁ", "আচ্ছা", "ঠিক আছে"}),
    "mr": frozenset({"ho", "bara", "thik aahe", "ok", "हो", "बरं", "ठीक आहे"}),
}


def _words(text: str) -> list[str]:
    # Punctuation and symbols become spaces; letters and combining marks (matras) stay.
    kept = (
        " " if unicodedata.category(c)[0] in "PS" and c not in "'-" else c for c in text.lower()
    )
    return "".join(kept).split()


def is_backchannel(text: str, languages: tuple[str, ...] | None = None) -> bool:
    """Whether ``text`` is only a backchannel (one or a few, "ok ok"), in any of ``languages``
    (default: every list)."""
    words = _words(text)
    if not words:
        return False
    phrase = " ".join(words)
    lists = [BACKCHANNELS[k] for k in (languages or tuple(BACKCHANNELS)) if k in BACKCHANNELS]
    known = frozenset().union(*lists) if lists else frozenset()
    if phrase in known:
        return True
    # Repeats ("ok ok", "haan haan accha"): every word a backchannel on its own.
    return len(words) <= 4 and all(w in known for w in words)


def resume_text(full: str, heard: str) -> str:
    """The part of ``full`` not heard, from the first sentence the user did not hear whole."""
    full, heard = full.strip(), heard.strip()
    if not full:
        return ""
    if not heard:
        return full
    sentences = split_sentences(full)
    heard_count = 0
    for said, whole in zip(split_sentences(heard), sentences, strict=False):
        if said != whole:
            break  # heard in part: said again whole
        heard_count += 1
    return " ".join(sentences[heard_count:])


@dataclass(frozen=True, slots=True)
class GateParams:
    """What it takes to barge in: seconds of the user's speech, words of transcript."""

    min_duration_secs: float = 0.0
    min_words: int = 0

    def __post_init__(self) -> None:
        if self.min_duration_secs < 0:
            raise ConfigurationError(
                f"expected min_duration_secs >= 0, got {self.min_duration_secs}"
            )
        if self.min_words < 0:
            raise ConfigurationError(f"expected min_words >= 0, got {self.min_words}")


@dataclass(frozen=True, slots=True)
class InterruptionParams:
    """Gates while the bot speaks and while it thinks, and false-interruption handling.

    speaking: 0.5 s of speech (the VAD's edges), measured on the real speech of
    ``benchmarks/turn_eval.py``: Silero already ignores the noise clips (white and pink noise,
    a cough-like burst, a door slam), single spoken words last 0.45-0.7 s there, and a
    backchannel ("mm-hm", "haan") that still gets through is undone by the resume below.
    thinking: no gate: the user going on while the reply is prepared means the turn was not
    over. ``resume``: take the reply back up after a false interruption.
    """

    speaking: GateParams = field(default_factory=lambda: GateParams(min_duration_secs=0.5))
    thinking: GateParams = field(default_factory=GateParams)
    require: Literal["any", "all"] = "any"
    resume: bool = True
    false_interruption_timeout_secs: float = 1.5
    languages: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.require not in ("any", "all"):
            raise ConfigurationError(f"expected require 'any' or 'all', got {self.require!r}")
        if self.false_interruption_timeout_secs <= 0:
            raise ConfigurationError(
                "expected false_interruption_timeout_secs > 0, got"
                f" {self.false_interruption_timeout_secs}"
            )


class InterruptionGate(FrameProcessor):
    """Decides barge-ins from the user's speech and words; resumes after false ones (see the
    module docstring). Every frame is passed on except a backchannel transcript that came
    while the bot spoke. ``context`` is the conversation's :class:`LLMContext` (the one the
    aggregators share), needed to resume."""

    def __init__(
        self,
        context: LLMContext | None = None,
        *,
        params: InterruptionParams | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.params = params or InterruptionParams()
        self._context = context
        self._bot_speaking = False
        self._bot_thinking = False
        self._uninterruptible = 0  # uninterruptible utterances queued or playing
        self._user_turn = False
        self._vad_speaking = False
        # The VAD's start and stop (from its frames): the speech counted between its frames
        # misses the start and includes up to a stop's worth of trailing silence.
        self._vad_start_secs = 0.2
        self._vad_stop_secs = 0.2
        self._speech_secs = 0.0
        self._words = 0
        self._fired = False
        self._watching = False  # a barge-in while the bot spoke: was it real?
        self._transcript_seen = False
        self._timer: asyncio.Task[object] | None = None
        self._waited_secs = 0.0  # the caller's audio since the timer started
        # Resumed because no words came in time: words that come late (a slow STT) were a
        # real interruption after all.
        self._resumed_unheard = False
        #: Counters, for tests and metrics.
        self.interruptions = 0
        self.resumed = 0
        self.late_words = 0
        self.held = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            self._bot_thinking = False
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
            self._uninterruptible = 0
        elif isinstance(frame, TTSSpeakFrame) and frame.uninterruptible:
            self._uninterruptible += 1
        elif isinstance(frame, UserStartedSpeakingFrame):
            self._start_turn()
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self._vad_speaking = True
            self._vad_start_secs = frame.start_secs
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self._vad_speaking = False
            self._vad_stop_secs = frame.stop_secs
        elif isinstance(frame, InputAudioRawFrame):
            if frame.sample_rate and (self._timer is not None or self._user_turn):
                secs = len(frame.audio) / 2 / frame.sample_rate / frame.num_channels
                if self._timer is not None:
                    self._waited_secs += secs
                    # (a sum of 20 ms frames falls short of a round timeout by rounding)
                    if self._waited_secs + 1e-9 >= self.params.false_interruption_timeout_secs:
                        self._cancel_timer()
                        await self._words_timed_out()
                elif self._vad_speaking:
                    self._speech_secs += secs
                    await self._check()
        elif isinstance(frame, InterimTranscriptionFrame):
            if self._user_turn:
                self._words = max(self._words, len(frame.text.split()))
                await self._check()
        elif isinstance(frame, TranscriptionFrame):
            if await self._on_transcript(frame):
                return  # a backchannel: consumed
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._user_turn = False
            if self._watching and not self._transcript_seen:
                self._cancel_timer()
                self._waited_secs = 0.0
                self._timer = self.create_task(self._wait_for_words(), "false-interruption")
            elif not self._watching:
                self._bot_thinking = True
        await self.push_frame(frame, direction)

    def _start_turn(self) -> None:
        self._resumed_unheard = False
        self._user_turn = True
        self._speech_secs = 0.0
        self._words = 0
        self._fired = False
        self._cancel_timer()
        if not self._watching:
            self._transcript_seen = False

    def _gate(self) -> GateParams | None:
        if self._bot_speaking or self._uninterruptible:
            return self.params.speaking
        if self._bot_thinking:
            return self.params.thinking
        return None  # nothing to interrupt

    async def _check(self) -> None:
        if self._fired or not self._user_turn:
            return
        gate = self._gate()
        if gate is None:
            return
        if self._uninterruptible:
            if not self._fired:
                self._fired = True
                self.held += 1
            return
        # At least min_duration of speech for sure: what was counted, plus the VAD's start,
        # less the silence the VAD may not have reported yet.
        needed = gate.min_duration_secs - self._vad_start_secs + self._vad_stop_secs
        by_time = gate.min_duration_secs == 0 or self._speech_secs >= needed
        by_words = gate.min_words == 0 or self._words >= gate.min_words
        if gate.min_words and gate.min_duration_secs:
            passed = (
                (by_time or by_words) if self.params.require == "any" else (by_time and by_words)
            )
        else:
            passed = by_time and by_words
        if not passed or not self.interruptions_allowed:
            return
        self._fired = True
        self.interruptions += 1
        if self._bot_speaking and self.params.resume:
            self._watching = True
            self._transcript_seen = False
        self._bot_thinking = False
        await self.broadcast_interruption()

    async def _on_transcript(self, frame: TranscriptionFrame) -> bool:
        """True when the transcript is consumed here (a backchannel)."""
        text = frame.text.strip()
        if not text:
            return False
        if self._user_turn:
            self._words = max(self._words, len(text.split()))
            await self._check()
        languages = self.params.languages
        if frame.language and not languages:
            languages = (frame.language.split("-")[0].lower(), "en")
        backchannel = is_backchannel(text, languages)
        if self._resumed_unheard and not self._user_turn:
            self._resumed_unheard = False
            if backchannel:
                return True
            # The words came after the wait: the interruption was real. Cut the resumed reply
            # (the context keeps what of it was played) and let the words make the turn.
            self.interruptions += 1
            self.late_words += 1
            await self.broadcast_interruption()
            return False
        if self._watching:
            self._transcript_seen = True
            self._cancel_timer()
            if backchannel:
                self._watching = False
                await self._resume()
                return True
            self._watching = False  # real words: the interruption stands
            return False
        # A backchannel while the bot speaks (the gate held it): not a turn of its own.
        return backchannel and self._bot_speaking

    async def _wait_for_words(self) -> None:
        await asyncio.sleep(self.params.false_interruption_timeout_secs)
        self._timer = None
        await self._words_timed_out()

    async def _words_timed_out(self) -> None:
        if self._watching and not self._transcript_seen and not self._user_turn:
            self._watching = False
            self._resumed_unheard = await self._resume()

    async def _resume(self) -> bool:
        """Take the cut reply back up; whether there was anything to say."""
        context = self._context
        if context is None or context.last_cut is None:
            return False
        full, heard = context.last_cut
        rest = resume_text(full, heard)
        context.last_cut = None
        if not rest:
            return False
        self.resumed += 1
        start = LLMFullResponseStartFrame()
        context.begin_response(start.id)
        context.write_response(start.id, rest, [])
        await self.push_frame(start)
        await self.push_frame(LLMTextFrame(text=rest))
        await self.push_frame(LLMFullResponseEndFrame())
        return True

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
