"""The bot ``vani serve`` serves: ``vani demo``'s pizza shop, live. See ``docs/server.md``.

Silero VAD + the smart-turn model → STT → interruption gate → user context → LLM
(+ ``place_order``) → TTS → the caller, with the RAVI client protocol. Turn-taking is
``vani demo``'s (:func:`vani.demo.turn_taking`, docs/turn-taking.md): the turn ends when the model
hears a finished sentence after a 0.3 s pause, the caller barges in after 0.5 s of speech, and a
cough or an "mm-hm" over the reply gives the bot its reply back.

Engines, as for ``vani demo``: Whisper tiny.en and Piper on this machine and
the scripted dialogue by default; ``SARVAM_API_KEY`` swaps the speech for Sarvam;
``OPENAI_API_KEY`` or ``--llm-base-url`` (any OpenAI-compatible server) swaps the dialogue for
an LLM.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vani.demo import PLACE_ORDER_TOOL, SYSTEM_PROMPT, pizza_script, place_order, turn_taking
from vani.pipeline import Pipeline, PipelineParams
from vani.processors import FrameProcessor
from vani.processors.aggregators import LLMContext, LLMContextAggregatorPair
from vani.server.session import Session

__all__ = ["DemoBotOptions", "make_demo_bot", "warm_up"]

OUT_RATE = 24000


@dataclass(slots=True)
class DemoBotOptions:
    """``offline``: ignore API keys. ``llm_base_url``/``llm_model``: an OpenAI-compatible
    server. ``sarvam_stt_url``/``sarvam_tts_url``: where Sarvam is (a proxy, or test fakes)."""

    offline: bool = False
    llm_base_url: str | None = None
    llm_model: str | None = None
    sarvam_stt_url: str | None = None
    sarvam_tts_url: str | None = None


def _describe(options: DemoBotOptions) -> tuple[bool, bool]:
    """(sarvam, openai-compatible LLM) from the options and the environment."""
    sarvam = not options.offline and bool(os.environ.get("SARVAM_API_KEY"))
    llm = not options.offline and bool(os.environ.get("OPENAI_API_KEY") or options.llm_base_url)
    return sarvam, llm


def _engines(options: DemoBotOptions) -> tuple[FrameProcessor, FrameProcessor, FrameProcessor]:
    sarvam, use_llm = _describe(options)
    stt: FrameProcessor
    tts: FrameProcessor
    llm: FrameProcessor
    if sarvam:
        from vani.services.sarvam import SarvamSTTService, SarvamTTSService
        from vani.services.sarvam._common import DEFAULT_BASE_URL

        stt = SarvamSTTService(base_url=options.sarvam_stt_url or DEFAULT_BASE_URL)
        tts = SarvamTTSService(base_url=options.sarvam_tts_url or DEFAULT_BASE_URL)
    else:
        from vani.services.local import PiperTTSService, WhisperSTTService

        stt = WhisperSTTService()
        tts = PiperTTSService()
    if use_llm:
        from vani.services.openai import OpenAILLMService

        key = os.environ.get("OPENAI_API_KEY") or "none"
        model = options.llm_model or "gpt-4o-mini"
        openai_llm = OpenAILLMService(api_key=key, base_url=options.llm_base_url, model=model)
        openai_llm.register_function("place_order", place_order)
        llm = openai_llm
    else:
        from vani.services.llm import ScriptedLLMService

        scripted = ScriptedLLMService(rule=pizza_script)
        scripted.register_function("place_order", place_order)
        llm = scripted
    return stt, llm, tts


def warm_up(options: DemoBotOptions | None = None) -> None:
    """Load what the first call would otherwise wait for: the engines' modules, the Silero
    and smart-turn sessions, and (offline) the Whisper model and the Piper voice. Blocking and
    thread-safe: ``vani serve`` runs it in a thread once it listens, while no call has come
    yet."""
    opts = options or DemoBotOptions()
    sarvam, use_llm = _describe(opts)
    from vani.audio.silero import silero_session

    silero_session()
    from vani.audio.turn import smart_turn_session

    smart_turn_session()
    if sarvam:
        import vani.services.sarvam
    else:
        from vani.services.local.piper import load_piper_voice
        from vani.services.local.whisper import load_whisper_model

        load_whisper_model()
        load_piper_voice()
    if use_llm:
        import openai  # noqa: F401

        import vani.services.openai  # noqa: F401


def make_demo_bot(
    options: DemoBotOptions | None = None,
) -> tuple[Callable[[Session], Awaitable[None]], str]:
    """The demo's ``bot(session)`` and a description of its engines."""
    opts = options or DemoBotOptions()
    sarvam, use_llm = _describe(opts)
    names = ["Sarvam STT + TTS" if sarvam else "Whisper tiny.en + Piper (offline)"]
    if use_llm:
        names.append(f"LLM at {opts.llm_base_url}" if opts.llm_base_url else "OpenAI")
    else:
        names.append("scripted dialogue")

    async def bot(session: Session) -> None:
        stt, llm, tts = _engines(opts)
        context = LLMContext(
            messages=[{"role": "system", "content": SYSTEM_PROMPT}], tools=[PLACE_ORDER_TOOL]
        )
        talk = LLMContextAggregatorPair(context)
        vad, gate = turn_taking(context)
        pipeline = Pipeline(
            [
                session.input(),
                vad,
                stt,
                *([gate] if gate is not None else []),
                talk.user(),
                llm,
                tts,
                session.output(),
                talk.assistant(),
            ]
        )
        params = PipelineParams(audio_in_sample_rate=16000, audio_out_sample_rate=OUT_RATE)
        await session.run(session.task(pipeline, params=params))

    return bot, ", ".join(names)
