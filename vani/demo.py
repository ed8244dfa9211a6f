"""``vani demo``: a whole phone call to a pizza shop, offline by default.

The caller is a WAV (shipped in ``vani/assets/demo_call.wav``, or the user's own with
``--input``). The pipeline is the one a production bot uses::

    FileTransport.input → Silero VAD + end-of-turn model → STT → interruption gate
        → user context → LLM (+ place_order tool) → TTS → FileTransport.output
        → assistant context

The turn ends when the smart-turn model hears a finished sentence after a 0.3 s pause (or after
1.5 s of silence), not after 0.8 s of silence; the caller barges in after 0.5 s of speech, and a
barge-in that turns out to be a cough or an "mm-hm" gives the bot its reply back from the first
sentence the caller did not hear (docs/turn-taking.md). ``turn_model=False`` goes back to the
VAD alone, ``gate=False`` to a barge-in at the VAD's first word.

With no keys everything runs on this machine: Whisper tiny.en, a scripted ordering dialogue
(:func:`pizza_script`), Piper. ``OPENAI_API_KEY`` swaps the script for OpenAI; ``SARVAM_API_KEY``
swaps Whisper and Piper for Sarvam. Cloud runs use the wall clock; offline runs use the file
transport's virtual clock with processing time charged, so the call takes as long as its
processing but the latencies it reports are real.

Taps along the pipeline stamp every event with the transport's clock; :func:`format_timeline`
prints them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from vani.audio.turn import SmartTurnAnalyzer
from vani.audio.vad import VADParams
from vani.audio.vad_processor import VADProcessor
from vani.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    ErrorFrame,
    Frame,
    FrameDirection,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMTextFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSTextFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from vani.pipeline import Pipeline, PipelineParams, PipelineRunner, PipelineTask
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.processors.interruptions import InterruptionGate
from vani.services.llm import ScriptedLLMService
from vani.services.llm.functions import FunctionCallParams
from vani.services.llm.scripted import ScriptedToolCall, ScriptedTurn
from vani.transports.clock import Clock
from vani.transports.file import FileTransport

__all__ = [
    "DEMO_VAD_STOP_SECS",
    "SYSTEM_PROMPT",
    "CallEvent",
    "DemoResult",
    "Endpoints",
    "TurnStages",
    "demo_call_path",
    "format_timeline",
    "pizza_script",
    "run_demo",
    "turn_taking",
]

OUT_RATE = 24000

#: The demo's VAD stop with the turn model: the caller's voice pauses ~0.25 s at commas ("A large
#: pepperoni, please"), and the model calls "A large pepperoni" a finished turn.
DEMO_VAD_STOP_SECS = 0.3

SYSTEM_PROMPT = (
    "You are the phone assistant of Vani Pizza. Keep every answer to one or two short spoken"
    " sentences, no lists or markdown. The menu: margherita, pepperoni and veggie supreme, each"
    " medium or large; drinks: cola, lemonade, water. Take the pizza, the size, an optional drink"
    " and the delivery address, then call place_order once and confirm the order number, the"
    " total and the delivery time it returns."
)

PLACE_ORDER_TOOL = {
    "type": "function",
    "function": {
        "name": "place_order",
        "description": "Place a delivery order.",
        "parameters": {
            "type": "object",
            "properties": {
                "pizza": {"type": "string", "enum": ["margherita", "pepperoni", "veggie supreme"]},
                "size": {"type": "string", "enum": ["medium", "large"]},
                "drink": {"type": "string", "description": "cola, lemonade, water, or none"},
                "address": {"type": "string"},
            },
            "required": ["pizza", "size", "address"],
        },
    },
}

_PRICES = {("medium", False): 12.0, ("large", False): 16.0}
_DRINK_PRICE = 2.5


def demo_call_path() -> Path:
    """The shipped caller WAV (and ``demo_call.json`` beside it with the turns' texts)."""
    return Path(str(resources.files("vani.assets").joinpath("demo_call.wav")))


def _find(options: tuple[str, ...], text: str, default: str) -> str:
    lowered = text.lower()
    return next((o for o in options if o.split()[0] in lowered), default)


def _user_messages(context: LLMContext) -> list[str]:
    return [str(m.get("content") or "") for m in context.messages if m.get("role") == "user"]


def pizza_script(context: LLMContext) -> ScriptedTurn | str | None:
    """The scripted shop assistant: answers from the conversation so far, calls place_order
    after the address, and confirms from the tool's result. Deterministic."""
    last = context.messages[-1] if context.messages else {}
    if last.get("role") == "tool":
        result = json.loads(str(last.get("content") or "{}"))
        return (
            f"Your order {result.get('order_id')} is placed: {result.get('summary')},"
            f" {result.get('total_words')} in total. It will arrive in about"
            f" {result.get('eta_minutes')} minutes. Thanks for calling Vani Pizza!"
        )
    said = _user_messages(context)
    if any(m.get("role") == "tool" for m in context.messages):
        return "Your order is on its way. Is there anything else I can do for you?"
    if len(said) <= 1:
        return (
            "Welcome to Vani Pizza! Today we have margherita, pepperoni, and veggie supreme,"
            " each in medium or large. Which one would you like?"
        )
    if len(said) == 2:
        pizza = _find(("margherita", "pepperoni", "veggie supreme"), said[1], "pepperoni")
        size = _find(("medium", "large"), said[1], "large")
        return f"One {size} {pizza}. Anything to drink?"
    if len(said) == 3:
        return "Great. What is the delivery address?"
    pizza = _find(("margherita", "pepperoni", "veggie supreme"), said[1], "pepperoni")
    size = _find(("medium", "large"), said[1], "large")
    drink = _find(("cola", "lemonade", "water"), said[2], "none")
    address = said[3].strip().rstrip(".") or "unknown"
    return ScriptedTurn(
        tool_calls=[
            ScriptedToolCall(
                "place_order", {"pizza": pizza, "size": size, "drink": drink, "address": address}
            )
        ]
    )


def _money_words(amount: float) -> str:
    dollars, cents = int(amount), round((amount - int(amount)) * 100)
    words = {12: "twelve", 14: "fourteen", 16: "sixteen", 18: "eighteen", 50: "fifty"}
    text = f"{words.get(dollars, str(dollars))} dollars"
    return f"{text} {words.get(cents, str(cents))}" if cents else text


async def place_order(params: FunctionCallParams) -> dict[str, object]:
    """The demo's tool: prices the order and returns an order number."""
    args = params.arguments
    size = str(args.get("size") or "large")
    drink = str(args.get("drink") or "none")
    total = _PRICES.get((size, False), 16.0) + (_DRINK_PRICE if drink != "none" else 0.0)
    summary = f"a {size} {args.get('pizza')}" + (f" and a {drink}" if drink != "none" else "")
    return {
        "order_id": "A42",
        "summary": summary,
        "total": f"{total:.2f}",
        "total_words": _money_words(total),
        "eta_minutes": 30,
        "address": str(args.get("address")),
    }


@dataclass(slots=True)
class CallEvent:
    """One line of the timeline: ``time`` in seconds on the transport's clock."""

    time: float
    who: str  # "user", "bot", "tool", "call"
    what: str
    latency_secs: float | None = None


@dataclass(slots=True)
class TurnStages:
    """Where one answer's wait went, in seconds on the transport's clock from the VAD's stop
    (the caller stopped ``vad_stop_secs`` before it): the end of the turn (the model's
    decision), the transcript, the first text of the reply, its first audio out of the TTS, and
    the first audio played (``None`` when that stage did not happen)."""

    turn: float | None = None
    transcript: float | None = None
    reply_text: float | None = None
    tts_audio: float | None = None
    played: float | None = None


@dataclass
class DemoResult:
    events: list[CallEvent] = field(default_factory=list)
    transcripts: list[str] = field(default_factory=list)
    bot_replies: list[str] = field(default_factory=list)
    tool_calls: list[tuple[str, str]] = field(default_factory=list)
    interruptions: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    stages: list[TurnStages] = field(default_factory=list)
    open_stage: TurnStages | None = None  # the answer being waited for
    stage_origin: float = 0.0  # the clock time of its VAD stop
    errors: list[str] = field(default_factory=list)
    messages: list[dict[str, object]] = field(default_factory=list)
    output_path: Path | None = None
    transport: FileTransport | None = None
    engines: str = ""
    vad_stop_secs: float = 0.0
    llm: FrameProcessor | None = None
    gate: InterruptionGate | None = None


class _Tap(FrameProcessor):
    """Stamps the frames it sees with the transport clock into a :class:`DemoResult`."""

    def __init__(self, result: DemoResult, clock: Clock, where: str) -> None:
        super().__init__(name=f"tap:{where}")
        self._result = result
        self._clock = clock
        self._where = where
        self._reply: list[str] = []
        self._last_stop: float | None = None

    def _add(self, who: str, what: str, latency: float | None = None) -> None:
        self._result.events.append(CallEvent(self._clock.now(), who, what, latency))

    def _stage(self, name: str) -> None:
        """Stamp ``name`` on the answer being waited for (the first time only)."""
        r = self._result
        stage = r.open_stage
        if stage is not None and getattr(stage, name) is None:
            setattr(stage, name, self._clock.now() - r.stage_origin)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        r = self._result
        if isinstance(frame, ErrorFrame):
            r.errors.append(frame.error)
        elif direction is FrameDirection.UPSTREAM:
            pass
        elif self._where == "stt":
            if isinstance(frame, VADUserStartedSpeakingFrame):
                self._add("user", "(starts speaking)")
            elif isinstance(frame, VADUserStoppedSpeakingFrame):
                self._add("user", "(stops speaking)")
                r.open_stage, r.stage_origin = TurnStages(), self._clock.now()
            elif isinstance(frame, UserStoppedSpeakingFrame) and r.open_stage is not None:
                self._stage("turn")
                r.stages.append(r.open_stage)
            elif isinstance(frame, TranscriptionFrame):
                r.transcripts.append(frame.text)
                self._add("user", f'"{frame.text}"')
                self._stage("transcript")
        elif self._where == "llm":
            if isinstance(frame, LLMTextFrame):
                self._reply.append(frame.text)
                self._stage("reply_text")
            elif isinstance(frame, LLMFullResponseEndFrame) and self._reply:
                r.bot_replies.append("".join(self._reply).strip())
                self._reply = []
            elif isinstance(frame, FunctionCallInProgressFrame):
                r.tool_calls.append((frame.function_name, frame.arguments))
                self._add("tool", f"{frame.function_name}({frame.arguments})")
            elif isinstance(frame, FunctionCallResultFrame):
                shown = frame.result if isinstance(frame.result, str) else json.dumps(frame.result)
                self._add("tool", f"→ {shown}")
            elif isinstance(frame, InterruptionFrame):
                if r.transport is not None and r.transport.bot_speaking:
                    # Where the reply is cut: with the gate, after the caller's first 0.5 s.
                    r.interruptions.append(self._clock.now())
                    self._add("call", "barge-in while the bot speaks")
                if self._reply:
                    r.bot_replies.append("".join(self._reply).strip())
                    self._reply = []
        elif self._where == "tts":
            if isinstance(frame, TTSAudioRawFrame):
                self._stage("tts_audio")
        elif self._where == "out":
            if isinstance(frame, BotStartedSpeakingFrame):
                stops = [e.time for e in r.events if e.what == "(stops speaking)"]
                latency = None
                if stops and (self._last_stop is None or stops[-1] != self._last_stop):
                    self._last_stop = stops[-1]
                    latency = self._clock.now() - stops[-1]
                    r.latencies.append(latency)
                    self._stage("played")
                    r.open_stage = None
                self._add("bot", "(starts speaking)", latency)
            elif isinstance(frame, BotStoppedSpeakingFrame):
                self._add("bot", "(stops speaking)")
            elif isinstance(frame, TTSTextFrame):
                self._add("bot", f'"{frame.text}"')
        await self.push_frame(frame, direction)


@dataclass(slots=True)
class Endpoints:
    """Where the cloud services are (``None``: their public endpoints). Tests and benchmarks
    point them at the fakes in :mod:`vani.testing`."""

    openai_base_url: str | None = None
    sarvam_stt_url: str | None = None
    sarvam_tts_url: str | None = None


def _engines(
    offline: bool, endpoints: Endpoints
) -> tuple[FrameProcessor, FrameProcessor, FrameProcessor, str, bool]:
    """(stt, llm, tts, description, cloud) from the environment."""
    openai_key = None if offline else os.environ.get("OPENAI_API_KEY")
    sarvam_key = None if offline else os.environ.get("SARVAM_API_KEY")
    names: list[str] = []
    stt: FrameProcessor
    tts: FrameProcessor
    llm: FrameProcessor
    if sarvam_key:
        import vani.services.sarvam as sarvam
        from vani.services.sarvam._common import DEFAULT_BASE_URL

        stt = sarvam.SarvamSTTService(
            api_key=sarvam_key, base_url=endpoints.sarvam_stt_url or DEFAULT_BASE_URL
        )
        tts = sarvam.SarvamTTSService(
            api_key=sarvam_key, base_url=endpoints.sarvam_tts_url or DEFAULT_BASE_URL
        )
        names.append("Sarvam STT + TTS")
    else:
        from vani.services.local import PiperTTSService, WhisperSTTService

        stt = WhisperSTTService()
        tts = PiperTTSService()
        names.append("Whisper tiny.en + Piper (offline)")
    if openai_key:
        from vani.services.openai import OpenAILLMService

        openai_llm = OpenAILLMService(api_key=openai_key, base_url=endpoints.openai_base_url)
        openai_llm.register_function("place_order", place_order)
        llm = openai_llm
        names.append("OpenAI")
    else:
        scripted = ScriptedLLMService(rule=pizza_script)
        scripted.register_function("place_order", place_order)
        llm = scripted
        names.append("scripted dialogue")
    return stt, llm, tts, ", ".join(names), bool(openai_key or sarvam_key)


def turn_taking(
    context: LLMContext,
    *,
    turn_model: bool = True,
    gate: bool = True,
    inline: bool = False,
    vad_params: VADParams | None = None,
) -> tuple[VADProcessor, InterruptionGate | None]:
    """The demo's turn-taking (``vani demo`` and the bot ``vani serve`` serves): the VAD with
    the smart-turn model after a :data:`DEMO_VAD_STOP_SECS` stop, and the interruption gate
    (0.5 s of speech to barge in while the bot speaks, false-interruption resume) that goes
    after the STT. ``inline``: wait for the model's answer before passing more audio (virtual
    clocks). See docs/turn-taking.md."""
    analyzer = SmartTurnAnalyzer() if turn_model else None
    if vad_params is None:
        vad_params = VADParams(stop_secs=DEMO_VAD_STOP_SECS) if turn_model else VADParams()
    vad = VADProcessor(
        params=vad_params,
        turn_analyzer=analyzer,
        turn_inline=inline and turn_model,
        interrupt=not gate,
    )
    return vad, (InterruptionGate(context) if gate else None)


async def run_demo(
    *,
    input_path: str | Path | None = None,
    output_path: str | Path = "vani-call.wav",
    realtime: bool | None = None,
    offline: bool = False,
    charge_processing_time: bool = True,
    vad_params: VADParams | None = None,
    endpoints: Endpoints | None = None,
    turn_model: bool = True,
    gate: bool = True,
) -> DemoResult:
    """Run the demo call; returns what happened. ``offline`` ignores API keys.

    ``realtime``: pace on the wall clock; by default only when a cloud service is used (its
    network waits cannot be seen by the virtual clock).
    ``charge_processing_time=False`` makes the virtual clock stand still while models run: the
    timeline is then the same on any machine (tests), and latencies show vani's own delays only.
    ``turn_model``: end turns with the smart-turn model (default) or with the VAD alone.
    ``gate``: decide barge-ins with :class:`InterruptionGate` (default) or at the VAD's start.
    """
    stt, llm, tts, engines, cloud = _engines(offline, endpoints or Endpoints())
    paced = cloud if realtime is None else realtime
    transport = FileTransport(
        input_path or demo_call_path(),
        output_path,
        realtime=paced,
        charge_processing_time=charge_processing_time,
        hangup_after_secs=1.5,
    )
    result = DemoResult(transport=transport, engines=engines, llm=llm)
    context = LLMContext(
        messages=[{"role": "system", "content": SYSTEM_PROMPT}], tools=[PLACE_ORDER_TOOL]
    )
    # Off the wall clock the model's question is asked inline, so the virtual clock charges
    # the model's time and the timeline does not depend on the machine's speed.
    vad, interruption_gate = turn_taking(
        context, turn_model=turn_model, gate=gate, inline=not paced, vad_params=vad_params
    )
    result.gate = interruption_gate
    result.vad_stop_secs = vad.params.stop_secs
    aggregators = LLMContextAggregatorPair(context)
    pipeline = Pipeline(
        [
            transport.input(),
            vad,
            stt,
            _Tap(result, transport.clock, "stt"),
            *([interruption_gate] if interruption_gate is not None else []),
            aggregators.user(),
            llm,
            _Tap(result, transport.clock, "llm"),
            tts,
            _Tap(result, transport.clock, "tts"),
            transport.output(),
            _Tap(result, transport.clock, "out"),
            aggregators.assistant(),
        ]
    )
    task = PipelineTask(
        pipeline,
        params=PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=OUT_RATE),
        idle_timeout_secs=None,
    )
    await PipelineRunner(handle_sigint=True).run(task)
    result.events.sort(key=lambda e: e.time)
    result.messages = [dict(m) for m in context.messages]
    result.output_path = transport.written
    return result


_SPACES = re.compile(r"\s+")


def _call_text(call: object) -> str:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict):
        return str(call)
    return f"calls {function.get('name')}({function.get('arguments')})"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def format_stages(result: DemoResult) -> list[str]:
    """Each answer's wait split by stage, in ms after the VAD stop (:class:`TurnStages`)."""
    if not result.stages:
        return []
    lines = [
        "per answer, ms after the VAD stop: turn ended, transcript, reply text, TTS audio, played"
    ]
    for i, st in enumerate(result.stages, 1):
        stamps = (st.turn, st.transcript, st.reply_text, st.tts_audio, st.played)
        lines.append(f"  {i}: " + " / ".join(_ms(x) for x in stamps))
    return lines


def format_timeline(result: DemoResult) -> str:
    """The call as text: one line per event, then a summary."""
    lines = [f"vani demo — {result.engines}", ""]
    for e in result.events:
        what = _SPACES.sub(" ", e.what)
        if e.latency_secs is not None:
            what += (
                f"   [{e.latency_secs * 1000:.0f} ms after the VAD stop;"
                f" {(e.latency_secs + result.vad_stop_secs) * 1000:.0f} ms after speech ended]"
            )
        lines.append(f"{e.time:7.2f}s  {e.who:<5} {what}")
    lines.append("")
    if result.latencies:
        ms = sorted(x * 1000 for x in result.latencies)
        lines.append(
            f"turns: {len(result.transcripts)} user, {len(result.bot_replies)} bot replies;"
            f" tool calls: {len(result.tool_calls)}; barge-ins: {len(result.interruptions)}"
        )
        lines.append(
            "latency, VAD stop → first bot audio: "
            + ", ".join(f"{x:.0f}" for x in ms)
            + f" ms (median {ms[len(ms) // 2]:.0f} ms)"
        )
        lines.extend(format_stages(result))
    lines.append("")
    lines.append("the LLM context after the call (what the caller actually heard):")
    for message in result.messages[1:]:
        content = message.get("content")
        calls = message.get("tool_calls")
        shown = str(content)
        if calls and isinstance(calls, list) and not content:
            shown = ", ".join(_call_text(c) for c in calls)
        lines.append(f"  {message.get('role'):<9} {_SPACES.sub(' ', shown)[:110]}")
    lines.append("")
    for error in result.errors:
        lines.append(f"error: {error}")
    if result.output_path is not None:
        lines.append(f"call recording (caller left, bot right): {result.output_path.resolve()}")
    return "\n".join(lines)
