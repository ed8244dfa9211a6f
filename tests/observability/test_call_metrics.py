"""Per-turn metrics, the session report, traces and Prometheus over one whole simulated call:
real Silero VAD, Sarvam STT/TTS fakes, OpenAI fake with a tool, FileTransport on a virtual clock,
a caller who talks, waits and barges in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.observability.call_rig import Endpoints, build_caller, build_task, run_task
from vani.observability import MetricsAggregator, SessionListener, TurnRecord, observe
from vani.testing.fake_openai import FakeOpenAIServer
from vani.testing.fake_sarvam_stt import FakeSarvamSTTServer
from vani.testing.fake_sarvam_tts import FakeSarvamTTSServer

pytest.importorskip("vani.audio.vad_processor")


async def _call(
    tmp_path: Path, cycles: int, **observe_kwargs: object
) -> tuple[MetricsAggregator, list[str]]:
    from tests.observability.call_rig import responder_factory

    caller = build_caller(cycles)
    async with (
        FakeOpenAIServer(responder=responder_factory()) as llm,  # type: ignore[arg-type]
        FakeSarvamSTTServer(transcripts=caller.transcripts) as stt,
        FakeSarvamTTSServer() as tts,
    ):
        task, transport, _ = build_task(caller, Endpoints(llm.base_url, stt.base_url, tts.base_url))
        aggregator = observe(
            task,
            session_id="call-1",
            report_dir=str(tmp_path),
            facts={"transport": "file", "caller": "rig"},
            clock=transport.clock.now,
            **observe_kwargs,  # type: ignore[arg-type]
        )
        await run_task(task)
    return aggregator, caller.transcripts


async def test_turns_have_every_stage_usage_tools_and_interruptions(tmp_path: Path) -> None:
    ended: list[TurnRecord] = []

    class Collect(SessionListener):
        def on_turn_end(self, session: MetricsAggregator, turn: TurnRecord) -> None:
            ended.append(turn)

    agg, transcripts = await _call(tmp_path, 7, listeners=[Collect()], tracing=False)
    user_turns = [t for t in agg.turns if t.user_started is not None]
    assert [t.transcript for t in user_turns] == transcripts
    assert ended == list(agg.turns)
    answered = [t for t in user_turns if t.bot_started is not None]
    assert len(answered) == len(user_turns)
    for turn in answered:
        lat = turn.latencies
        for stage in ("vad_stop_to_stt_final", "stt_ttfb", "llm_ttfb", "tts_ttfb"):
            assert stage in lat, (turn.index, stage, lat)
        # The user's voice ended stop_secs before the VAD said so.
        assert lat["voice_to_voice"] == pytest.approx(lat["vad_stop_to_bot_audio"] + 0.8, abs=1e-6)
        assert lat["vad_stop_to_stt_final"] <= lat["vad_stop_to_bot_audio"]
        assert turn.usage.prompt_tokens > 0 and turn.usage.completion_tokens > 0
        assert turn.usage.tts_characters > 0
        assert turn.usage.stt_seconds > 1.0  # the utterance plus the VAD's pre-roll
        # What the caller heard; a reply cut before its first sentence ended was not heard.
        assert turn.bot_text or turn.interrupted
    # Every 3rd turn barges in on the bot: the turn before it was cut, with a latency.
    cut = [t for t in agg.turns if t.interrupted]
    assert len(cut) == 2 and agg.interruptions == 2
    assert all(0 <= t.latencies["interruption"] < 0.5 for t in cut)
    # The 4th LLM request asks for the tool; the tool's result is recorded in its turn.
    assert [tc.function_name for tc in agg.tool_calls] == ["lookup_table"]
    assert json.loads(str(agg.tool_calls[0].result)) == {"table": 12, "guests": 2}
    llm_calls = [c for t in agg.turns for c in t.calls if c.role == "llm"]
    assert all(c.model == "gpt-4o-mini" for c in llm_calls)
    assert agg.totals.total_tokens == sum(t.usage.total_tokens for t in agg.turns)
    assert agg.errors == []


async def test_session_report_is_written_with_timeline_context_and_usage(tmp_path: Path) -> None:
    agg, transcripts = await _call(tmp_path, 4, tracing=False)
    report = json.loads((tmp_path / "call-1.json").read_text())
    assert report["session_id"] == "call-1"
    assert report["facts"] == {"transport": "file", "caller": "rig"}
    assert report["end_reason"] == "caller hung up"
    assert report["summary"]["turns"] == agg.turn_count
    assert report["summary"]["latency"]["voice_to_voice"]["count"] == len(transcripts)
    assert report["usage"]["tts_characters"] == agg.totals.tts_characters > 0
    said = [t["user"]["transcript"] for t in report["turns"] if t["user"]["started"] is not None]
    assert said == transcripts
    assert report["context"][0] == {"role": "system", "content": "You book tables."}
    users = [m["content"] for m in report["context"] if m["role"] == "user"]
    assert users == transcripts
    assert report["tool_calls"][0]["function_name"] == "lookup_table"
    assert all("latencies_ms" in t for t in report["turns"])


async def test_one_trace_per_call_with_turn_service_and_tool_spans(tmp_path: Path) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    agg, _ = await _call(tmp_path, 4, tracer_provider=provider)
    spans = exporter.get_finished_spans()
    by_name: dict[str, list[object]] = {}
    for span in spans:
        by_name.setdefault(span.name, []).append(span)
    (session,) = by_name["vani.session"]
    assert {s.context.trace_id for s in spans} == {session.context.trace_id}  # type: ignore[attr-defined]
    turns = by_name["vani.turn"]
    assert len(turns) == agg.turn_count
    assert all(t.parent.span_id == session.context.span_id for t in turns)  # type: ignore[attr-defined]
    turn_ids = {t.context.span_id for t in turns}  # type: ignore[attr-defined]
    for name in ("vani.stt", "vani.llm", "vani.tts", "vani.tool"):
        assert by_name.get(name), name
        assert all(s.parent.span_id in turn_ids for s in by_name[name])  # type: ignore[attr-defined]
    llm = by_name["vani.llm"][0]
    assert llm.attributes["gen_ai.request.model"] == "gpt-4o-mini"  # type: ignore[attr-defined]
    assert llm.attributes["gen_ai.usage.input_tokens"] > 0  # type: ignore[attr-defined]
    tool = by_name["vani.tool"][0]
    assert tool.attributes["gen_ai.tool.name"] == "lookup_table"  # type: ignore[attr-defined]
    assert session.attributes["vani.call.transport"] == "file"  # type: ignore[attr-defined]
    for span in spans:
        assert span.start_time <= span.end_time  # type: ignore[attr-defined]


async def test_prometheus_metrics_follow_the_call(tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from vani.observability import VaniMetrics

    metrics = VaniMetrics()
    agg, transcripts = await _call(tmp_path, 3, metrics=metrics, tracing=False)
    body, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("vani_active_calls", ())] == 0
    assert samples[("vani_calls_started_total", ())] == 1
    assert samples[("vani_calls_ended_total", (("outcome", "completed"),))] == 1
    count = samples[("vani_stage_latency_seconds_count", (("stage", "voice_to_voice"),))]
    assert count == len(transcripts)
    assert samples[("vani_turns_total", ())] == agg.turn_count
    assert samples[("vani_tts_characters_total", ())] == agg.totals.tts_characters
    assert samples[("vani_llm_tokens_total", (("kind", "prompt"),))] == agg.totals.prompt_tokens
    assert ("process_resident_memory_bytes", ()) in samples


async def test_the_stereo_recording_is_written_beside_the_report(tmp_path: Path) -> None:
    agg, _ = await _call(tmp_path, 4, tracing=False, record=True)
    assert agg.ended is not None
    _check_recording(tmp_path, agg.ended)


def _check_recording(tmp_path: Path, call_secs: float) -> None:
    import wave

    import numpy as np

    report = json.loads((tmp_path / "call-1.json").read_text())
    path = Path(report["recording"])
    assert path == tmp_path / "call-1.wav" and path.exists()
    assert not list(tmp_path.glob("*.part"))  # the temporary tracks are gone
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 16000)
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert abs(len(pcm) / 16000 - call_secs) < 3.0
    loud = np.abs(pcm.astype(np.int32)) > 1000
    # The caller speaks on the left, the bot on the right; each is silent a good part of the time.
    assert 0.05 < loud[:, 0].mean() < 0.8
    assert 0.05 < loud[:, 1].mean() < 0.8
    # The bot answers after the caller: its first sound comes after the caller's first words.
    assert np.argmax(loud[:, 1]) > np.argmax(loud[:, 0])
