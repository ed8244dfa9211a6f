"""The page's own modules, run in real Chromium: the worklet resampler and the protobuf framing."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Loads worklets.js into the page (stubbing the worklet globals it registers with) and returns
# its StreamResampler.
LOAD_RESAMPLER = """
async () => {
  globalThis.AudioWorkletProcessor = class {};
  globalThis.registerProcessor = () => {};
  const m = await import('/js/worklets.js');
  window.StreamResampler = m.StreamResampler;
}
"""


@pytest.fixture
def page(launch_browser: Callable[..., Any], static_server: str) -> Any:
    browser = launch_browser()
    page = browser.new_page()
    page.goto(static_server + "/")
    page.evaluate(LOAD_RESAMPLER)
    return page


def _tone(page: Any, in_rate: int, out_rate: int, freq: float, chunks: list[int]) -> list[float]:
    return list(
        page.evaluate(
            """([inRate, outRate, freq, chunks]) => {
              const total = chunks.reduce((a, b) => a + b, 0);
              const x = new Float32Array(total);
              for (let i = 0; i < total; i++) {
                x[i] = 0.5 * Math.sin(2 * Math.PI * freq * i / inRate);
              }
              const r = new window.StreamResampler(inRate, outRate);
              const out = [];
              let at = 0;
              for (const n of chunks) { out.push(...r.process(x.subarray(at, at + n))); at += n; }
              return out;
            }""",
            [in_rate, out_rate, freq, chunks],
        )
    )


def _rms(xs: list[float]) -> float:
    return math.sqrt(sum(x * x for x in xs) / len(xs))


@pytest.mark.parametrize(("in_rate", "out_rate"), [(48000, 16000), (44100, 16000), (24000, 48000)])
def test_resampler_streaming_equals_one_shot(page: Any, in_rate: int, out_rate: int) -> None:
    total = in_rate // 2
    whole = _tone(page, in_rate, out_rate, 440.0, [total])
    primes = [7, 128, 13, 1021, 3, 509]
    chunks: list[int] = []
    while sum(chunks) < total:
        chunks.append(min(primes[len(chunks) % len(primes)], total - sum(chunks)))
    split = _tone(page, in_rate, out_rate, 440.0, chunks)
    assert split == whole  # bit for bit
    # The output keeps pace with the input (less the filter's look-ahead).
    expected = total * out_rate / in_rate
    assert expected - 200 < len(whole) <= expected + 1


@pytest.mark.parametrize(("in_rate", "out_rate"), [(48000, 16000), (44100, 16000), (24000, 48000)])
def test_resampler_keeps_a_tone_in_band(page: Any, in_rate: int, out_rate: int) -> None:
    out = _tone(page, in_rate, out_rate, 1000.0, [in_rate])
    steady = out[out_rate // 10 : -out_rate // 10]
    assert _rms(steady) == pytest.approx(0.5 / math.sqrt(2), rel=0.01)
    crossings = sum(1 for a, b in itertools.pairwise(steady) if a < 0 <= b)
    seconds = len(steady) / out_rate
    assert crossings / seconds == pytest.approx(1000.0, rel=0.01)


def test_resampler_rejects_what_would_alias(page: Any) -> None:
    # 10 kHz is above 16 kHz's Nyquist frequency: it must not fold back as a 6 kHz tone.
    out = _tone(page, 48000, 16000, 10000.0, [48000])
    steady = out[1600:-1600]
    assert _rms(steady) < 0.5 / math.sqrt(2) / 100  # at least 40 dB down


def test_raw_framing_round_trips_pcm(page: Any) -> None:
    result = page.evaluate(
        """async () => {
          const { RawFraming } = await import('/js/framing.js');
          const f = new RawFraming({ inputSampleRate: 16000, outputSampleRate: 24000 });
          const pcm = Int16Array.from([0, 1, -1, 32767, -32768]);
          const wire = f.encodeAudio(pcm);
          const back = f.decode(wire);
          const msg = f.decode(f.encodeMessage({ label: 'rtvi-ai', type: 'x', id: '1', data: {} }));
          return { bytes: Array.from(new Uint8Array(wire)), rate: back.sampleRate,
                   samples: Array.from(back.samples), msg };
        }"""
    )
    assert result["bytes"] == [0, 0, 1, 0, 255, 255, 255, 127, 0, 128]
    assert result["rate"] == 24000
    assert result["samples"] == [0, 1 / 32768, -1 / 32768, 32767 / 32768, -1]
    assert result["msg"] == {
        "kind": "rtvi",
        "message": {"label": "rtvi-ai", "type": "x", "id": "1", "data": {}},
    }


def test_protobuf_framing_rejects_truncated_frames(page: Any) -> None:
    errors = page.evaluate(
        """async () => {
          const { encodeMessageFrame, decodeFrame } = await import('/js/framing.js');
          const whole = encodeMessageFrame(JSON.stringify({ a: 1 }));
          const out = [];
          for (let n = 1; n < whole.length; n++) {
            try { decodeFrame(whole.subarray(0, n)); out.push('decoded'); }
            catch (e) { out.push('error'); }
          }
          return out;
        }"""
    )
    assert errors and set(errors) == {"error"}


def test_protobuf_message_frame_round_trips(page: Any) -> None:
    message = {"label": "rtvi-ai", "type": "client-ready", "id": "7", "data": {"v": "ü" * 300}}
    back = page.evaluate(
        """async (json) => {
          const { encodeMessageFrame, decodeFrame } = await import('/js/framing.js');
          return decodeFrame(encodeMessageFrame(json)).data;
        }""",
        json.dumps(message),
    )
    assert json.loads(back) == message


def test_protobuf_framing_matches_vani_serializer(page: Any) -> None:
    """The page's hand-written protobuf and vani's ProtobufFrameSerializer read each other."""
    from vani.frames import (
        InputAudioRawFrame,
        InputTransportMessageFrame,
        InterruptionFrame,
        OutputAudioRawFrame,
        OutputTransportMessageUrgentFrame,
    )
    from vani.serializers.protobuf import ProtobufFrameSerializer

    serializer = ProtobufFrameSerializer()
    encoded = page.evaluate(
        """async () => {
          const { ProtobufFraming } = await import('/js/framing.js');
          const f = new ProtobufFraming({ inputSampleRate: 16000 });
          const pcm = new Int16Array(320);
          for (let i = 0; i < pcm.length; i++) pcm[i] = (i * 97) % 65536 - 32768;
          return {
            audio: Array.from(f.encodeAudio(pcm)),
            message: Array.from(f.encodeMessage({ label: 'rtvi-ai', type: 'client-ready',
              id: 'x1', data: { version: '2.2.0', about: { library: 'vani-web' } } })),
          };
        }"""
    )
    (audio,) = serializer.deserialize(bytes(encoded["audio"]))
    assert isinstance(audio, InputAudioRawFrame)
    assert (audio.sample_rate, audio.num_channels) == (16000, 1)
    expected = [((i * 97) % 65536 - 32768) for i in range(320)]
    assert list(memoryview(audio.audio).cast("h")) == expected
    (message,) = serializer.deserialize(bytes(encoded["message"]))
    assert isinstance(message, InputTransportMessageFrame)
    assert message.message["type"] == "client-ready"
    assert message.message["data"]["about"] == {"library": "vani-web"}

    pcm = bytes(range(256)) * 4
    wire = {
        "audio": serializer.serialize(
            OutputAudioRawFrame(audio=pcm, sample_rate=24000, num_channels=1)
        ),
        "message": serializer.serialize(
            OutputTransportMessageUrgentFrame(
                message={"label": "rtvi-ai", "type": "bot-output", "data": {"text": "नमस्ते"}}
            )
        ),
        "interruption": serializer.serialize(InterruptionFrame()),
    }
    decoded = page.evaluate(
        """async (wire) => {
          const { ProtobufFraming } = await import('/js/framing.js');
          const f = new ProtobufFraming({ inputSampleRate: 16000 });
          const out = {};
          for (const [k, v] of Object.entries(wire)) {
            const d = f.decode(Uint8Array.from(v).buffer);
            if (d.samples) d.samples = Array.from(d.samples);
            out[k] = d;
          }
          return out;
        }""",
        {k: list(v) for k, v in wire.items() if isinstance(v, bytes)},
    )
    assert decoded["audio"]["kind"] == "audio"
    assert decoded["audio"]["sampleRate"] == 24000
    samples = list(memoryview(pcm).cast("h"))
    assert decoded["audio"]["samples"] == [s / 32768 for s in samples]
    assert decoded["message"] == {
        "kind": "rtvi",
        "message": {"label": "rtvi-ai", "type": "bot-output", "data": {"text": "नमस्ते"}},
    }
    assert decoded["interruption"] == {"kind": "interruption"}


def test_page_loads_without_errors(launch_browser: Callable[..., Any], static_server: str) -> None:
    page = launch_browser().new_page(viewport={"width": 390, "height": 844})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(static_server + "/")
    page.wait_for_function("window.vani !== undefined")
    assert errors == []
    assert page.evaluate("window.vani.client.state") == "idle"
    assert page.locator("#connect").inner_text() == "Connect"
    assert page.locator("#mute").is_disabled()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=200))
def test_protobuf_decoder_never_crashes_on_garbage(page: Any, data: bytes) -> None:
    """Any bytes either decode to a known kind or raise an Error; nothing else escapes."""
    outcome = page.evaluate(
        """async (bytes) => {
          const { decodeFrame } = await import('/js/framing.js');
          try { return decodeFrame(Uint8Array.from(bytes)).kind; }
          catch (e) { return e instanceof Error ? 'error' : 'thrown ' + typeof e; }
        }""",
        list(data),
    )
    assert outcome in {"audio", "message", "text", "transcription", "interruption", "error"}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    samples=st.lists(st.integers(-32768, 32767), max_size=400),
    text=st.text(max_size=200),
)
def test_page_frames_round_trip_through_vani_serializer(
    page: Any, samples: list[int], text: str
) -> None:
    from vani.frames import InputAudioRawFrame, InputTransportMessageFrame
    from vani.serializers.protobuf import ProtobufFrameSerializer

    wire = page.evaluate(
        """async ([samples, text]) => {
          const { ProtobufFraming } = await import('/js/framing.js');
          const f = new ProtobufFraming({ inputSampleRate: 16000 });
          return [Array.from(f.encodeAudio(Int16Array.from(samples))),
                  Array.from(f.encodeMessage({ label: 'rtvi-ai', type: 'send-text', id: 'a',
                                               data: { content: text } }))];
        }""",
        [samples, text],
    )
    serializer = ProtobufFrameSerializer()
    audio = serializer.deserialize(bytes(wire[0]))
    if samples:
        assert isinstance(audio[0], InputAudioRawFrame)
        assert list(memoryview(audio[0].audio).cast("h")) == samples
    else:
        assert audio == [] or not audio[0].audio
    (message,) = serializer.deserialize(bytes(wire[1]))
    assert isinstance(message, InputTransportMessageFrame)
    assert message.message["data"] == {"content": text}
