"""TelephonySimulator: a phone call as Twilio, Telnyx, Plivo or Exotel would place it.

The simulator is the provider and the caller at once. It calls the bot's webhook the way the
provider does (form POSTs signed like Twilio's, Plivo's V3 and Telnyx's Ed25519 signatures when
given the credential; Exotel's applet URL), opens
the media stream the answer names, sends ``connected``/``start`` with the call's ids and custom
parameters, plays a WAV as the caller in 20 ms ``media`` messages paced in real time, sends DTMF,
and hangs up. What the bot sends is played out on a simulated handset: audio queues behind what
is still playing, a mark is echoed when the audio before it would have finished playing (at once
when a clear drops it, as Twilio and Telnyx do; Plivo drops pending checkpoints and answers
``clearedAudio``), and a clear cuts the caller's audio at that instant. The handset's timeline is
what the caller heard (:meth:`TelephonySimulator.heard_audio`, :meth:`save_recording`).

Pair it with :class:`~vani.testing.FakeTelephonyAPI` so a REST hang-up from the bot ends the
stream like the provider would. See ``docs/telephony.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import wave
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from vani.audio.resample import StreamResampler
from vani.telephony.signature import compute_plivo_signature, compute_twilio_signature
from vani.testing.telephony_wire import ProviderWire, SimCall, wire_for

__all__ = ["SimEvent", "TelephonySimulator", "load_caller_audio", "sign_telnyx_webhook"]


def sign_telnyx_webhook(signing_key: str, body: bytes, timestamp: str) -> str:
    """The ``telnyx-signature-ed25519`` header for ``body`` sent at ``timestamp`` (Unix seconds),
    signed with ``signing_key`` (an Ed25519 private key's 32 raw bytes in base64)."""
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(signing_key))
    return base64.b64encode(key.sign(timestamp.encode() + b"|" + body)).decode("ascii")


FRAME_SECS = 0.02


@dataclass(slots=True)
class SimEvent:
    """Something that happened on the line; ``t`` is seconds since the stream opened."""

    t: float
    kind: str  # "media" | "clear" | "mark" | "mark_echo" | "unknown" | "sent:<event>" | "closed"
    name: str = ""
    secs: float = 0.0  # audio length, for media
    raw: str = ""


@dataclass(slots=True)
class _Segment:
    start: float
    pcm: bytes


@dataclass(slots=True)
class _PendingMark:
    name: str
    due: float
    handle: asyncio.TimerHandle | None = None


def load_caller_audio(path: str | Path, rate: int = 8000) -> bytes:
    """A mono s16le WAV as PCM at ``rate`` (resampled by vani's resampler when needed)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"expected 16-bit wav, got {8 * w.getsampwidth()}-bit: {path}")
        channels = w.getnchannels()
        src_rate = w.getframerate()
        pcm = w.readframes(w.getnframes())
    if channels != 1:
        import numpy as np

        pcm = np.frombuffer(pcm, "<i2").reshape(-1, channels)[:, 0].astype("<i2").tobytes()
    if src_rate != rate:
        rs = StreamResampler(src_rate, rate)
        pcm = rs.resample(pcm) + rs.flush()
    return pcm


@dataclass(slots=True)
class _Answer:
    stream_url: str
    parameters: dict[str, str] = field(default_factory=dict)


class TelephonySimulator:
    """One simulated phone call to a vani server (``base_url`` is ``http://host:port``).

    Typical use::

        async with TelephonySimulator("twilio", base_url, twilio_auth_token="...") as sim:
            await sim.play("caller.wav")
            await sim.wait_for_audio(1.0)
            await sim.send_dtmf("12#")
            await sim.hang_up()

    ``__aenter__`` dials in (webhook, then stream); use :meth:`connect` with a stream URL to
    skip the webhook.
    """

    def __init__(
        self,
        provider: str,
        base_url: str = "",
        *,
        call: SimCall | None = None,
        twilio_auth_token: str = "",
        plivo_auth_token: str = "",
        telnyx_signing_key: str = "",
        webhook_path: str | None = None,
        send_connected: bool = True,
        echo_marks: bool = True,
        reorder_every: int = 0,
    ) -> None:
        self.provider = provider
        self.wire: ProviderWire = wire_for(provider)
        self.base_url = base_url.rstrip("/")
        self.call = call or SimCall()
        self.twilio_auth_token = twilio_auth_token
        self.plivo_auth_token = plivo_auth_token
        """Signs Plivo webhooks (``X-Plivo-Signature-V3``) when set."""
        self.telnyx_signing_key = telnyx_signing_key
        """Ed25519 private key (32 bytes, base64) that signs Telnyx webhooks when set."""
        self.webhook_path = webhook_path or f"/telephony/{provider}"
        self.send_connected = send_connected
        self.echo_marks = echo_marks
        self.reorder_every = reorder_every
        """N > 0: every Nth media message is sent after the one that follows it (Telnyx does
        not guarantee order; its serializer must put them back)."""
        self._held_media: str | None = None
        """False: a provider that never echoes marks (to test the transport's fallback)."""
        self.events: list[SimEvent] = []
        self.answer: _Answer | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        self._ws: object = None
        self._t0 = 0.0
        self._seq = 0
        self._chunk = 0
        self._segments: list[_Segment] = []
        self._play_until = 0.0
        self._marks: list[_PendingMark] = []
        self._reader: asyncio.Task[None] | None = None
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._player: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()
        self.first_media_at: float | None = None
        """``loop.time()`` (``time.monotonic()``) when the first caller audio was sent."""

    # -- time --------------------------------------------------------------------------------

    def now(self) -> float:
        return asyncio.get_running_loop().time() - self._t0

    @property
    def started_at(self) -> float:
        """``loop.time()`` when the stream opened (event times count from it)."""
        return self._t0

    def _event(self, kind: str, name: str = "", secs: float = 0.0, raw: str = "") -> None:
        self.events.append(SimEvent(self.now(), kind, name, secs, raw))
        self._changed.set()

    # -- dialling ------------------------------------------------------------------------------

    async def dial_in(self, extra: dict[str, str] | None = None) -> str:
        """Call the webhook like the provider and return the media-stream URL it answers."""
        import httpx

        url = self.base_url + self.webhook_path
        c = self.call
        async with httpx.AsyncClient(timeout=10) as client:
            if self.provider == "exotel":
                query = {"CallSid": c.call_id, "From": c.from_number, "To": c.to_number}
                base, _, existing = url.partition("?")
                merged = {**dict(parse_qsl(existing)), **query, **(extra or {})}
                r = await client.get(base, params=merged)
                r.raise_for_status()
                self.answer = _Answer(stream_url=str(r.json()["url"]))
                return self.answer.stream_url
            if self.provider == "plivo":
                form = {"CallUUID": c.call_id, "From": c.from_number, "To": c.to_number}
            else:
                form = {
                    "CallSid": c.call_id,
                    "AccountSid": c.account_id,
                    "From": c.from_number,
                    "To": c.to_number,
                    "CallStatus": "ringing",
                    "Direction": "inbound",
                }
            form.update(extra or {})
            body = urlencode(form).encode()
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            if self.provider == "twilio":
                sig = compute_twilio_signature(self.twilio_auth_token, url, form)
                headers["X-Twilio-Signature"] = sig
            elif self.provider == "plivo" and self.plivo_auth_token:
                nonce = f"{self._nonce_source():020d}"
                headers["X-Plivo-Signature-V3-Nonce"] = nonce
                headers["X-Plivo-Signature-V3"] = compute_plivo_signature(
                    self.plivo_auth_token, "POST", url, form, nonce
                )
            elif self.provider == "telnyx" and self.telnyx_signing_key:
                stamp = str(int(time.time()))
                headers["telnyx-timestamp"] = stamp
                headers["telnyx-signature-ed25519"] = sign_telnyx_webhook(
                    self.telnyx_signing_key, body, stamp
                )
            r = await client.post(url, content=body, headers=headers)
            r.raise_for_status()
        self.answer = self._parse_markup(r.text)
        params = dict(self.answer.parameters)
        for key in ("From", "To", "from", "to"):
            params.pop(key, None)
        c.custom_parameters = {**params, **c.custom_parameters}
        return self.answer.stream_url

    @staticmethod
    def _nonce_source() -> int:
        return secrets.randbelow(10**20)

    def _parse_markup(self, text: str) -> _Answer:
        root = ET.fromstring(text)
        stream = root.find(".//Stream")
        if stream is None:
            raise AssertionError(f"no <Stream> in the webhook answer: {text[:200]}")
        if self.provider == "plivo":
            if stream.get("bidirectional") != "true":
                raise AssertionError("plivo <Stream> is not bidirectional")
            extra = stream.get("extraHeaders", "")
            params = dict(p.split("=", 1) for p in extra.split(",") if "=" in p)
            return _Answer(stream_url=(stream.text or "").strip(), parameters=params)
        if root.find("./Connect/Stream") is None:
            raise AssertionError("expected <Connect><Stream> (bidirectional), got " + text[:200])
        params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        url = stream.get("url", "")
        if self.provider == "twilio" and urlsplit(url).query:
            raise AssertionError(f"twilio stream urls take no query string: {url}")
        return _Answer(stream_url=url, parameters=params)

    async def connect(self, stream_url: str | None = None) -> None:
        """Open the media stream and send ``connected`` and ``start``."""
        from websockets.asyncio.client import connect

        url = stream_url or (self.answer.stream_url if self.answer else "")
        parts = urlsplit(url)
        if parts.scheme in ("https", "http"):
            url = urlunsplit(parts._replace(scheme="wss" if parts.scheme == "https" else "ws"))
        self._ws = await connect(url, max_size=None, compression=None, open_timeout=10)
        self._t0 = asyncio.get_running_loop().time()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop(), name="sim-w")
        self._reader = asyncio.get_running_loop().create_task(self._read_loop(), name="sim-r")
        if self.send_connected:
            hello = self.wire.connected()
            if hello is not None:
                self._send(hello)
        self._send(self.wire.start(self.call, self._next_seq()))

    async def __aenter__(self) -> Self:
        if self.answer is None:
            await self.dial_in()
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- sending -------------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _send(self, text: str) -> None:
        if self.closed.is_set():
            return
        with contextlib.suppress(ValueError):
            event = json.loads(text).get("event", "")
            if event != "media":
                self._event(f"sent:{event}", raw=text)
        self._out.put_nowait(text)

    async def _write_loop(self) -> None:
        from websockets.asyncio.client import ClientConnection
        from websockets.exceptions import ConnectionClosed

        ws = self._ws
        assert isinstance(ws, ClientConnection)
        while True:
            text = await self._out.get()
            if text is None:
                return
            try:
                await ws.send(text)
            except ConnectionClosed:
                return

    async def play(self, audio: str | Path | bytes, *, rate: int = 8000) -> None:
        """Speak ``audio`` (a WAV path, or s16le PCM at ``rate``) in real-time 20 ms messages."""
        pcm = load_caller_audio(audio, 8000) if isinstance(audio, str | Path) else audio
        if not isinstance(audio, str | Path) and rate != 8000:
            rs = StreamResampler(rate, 8000)
            pcm = rs.resample(pcm) + rs.flush()
        step = int(8000 * FRAME_SECS) * 2
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(0, len(pcm), step):
            if self.closed.is_set():
                return
            chunk = pcm[i : i + step]
            if len(chunk) < step:
                chunk += bytes(step - len(chunk))
            self._chunk += 1
            if self.first_media_at is None:
                self.first_media_at = loop.time()
            ts_ms = int(self.now() * 1000)
            text = self.wire.media(self.call, chunk, self._next_seq(), self._chunk, ts_ms)
            if self.reorder_every and self._chunk % self.reorder_every == 0:
                self._held_media = text  # goes out after the next one
            else:
                self._send(text)
                if self._held_media is not None:
                    self._send(self._held_media)
                    self._held_media = None
            due = start + (i // step + 1) * FRAME_SECS
            await asyncio.sleep(max(0.0, due - loop.time()))

    def start_playing(self, audio: str | Path | bytes, *, rate: int = 8000) -> asyncio.Task[None]:
        """:meth:`play` in a task of its own (awaited by :meth:`close`)."""
        self._player = asyncio.get_running_loop().create_task(
            self.play(audio, rate=rate), name="sim-play"
        )
        return self._player

    async def silence(self, secs: float) -> None:
        """The caller says nothing for ``secs`` (zeros, still paced)."""
        await self.play(bytes(int(8000 * secs) * 2))

    async def send_dtmf(self, digits: str, *, gap_secs: float = 0.15) -> None:
        """Press keys, ``gap_secs`` apart."""
        for digit in digits:
            self._send(self.wire.dtmf(self.call, digit, self._next_seq()))
            await asyncio.sleep(gap_secs)

    async def hang_up(self) -> None:
        """The caller hangs up: ``stop``, then the provider closes the socket."""
        if self.closed.is_set():
            return
        self._send(self.wire.stop(self.call, self._next_seq()))
        await self.close()

    async def provider_ended(self, provider: str, call_id: str) -> None:
        """A :class:`FakeTelephonyAPI` hang-up listener: ends this stream if it is the call."""
        if provider == self.provider and call_id == self.call.call_id:
            await self.hang_up()

    async def close(self) -> None:
        from websockets.asyncio.client import ClientConnection

        player, self._player = self._player, None
        if player is not None and not player.done():
            player.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player
        for mark in self._marks:
            if mark.handle is not None:
                mark.handle.cancel()
        self._marks.clear()
        writer = self._writer
        if writer is not None and not self.closed.is_set():
            self._out.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2.0)
        ws = self._ws
        if isinstance(ws, ClientConnection):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)
        self._mark_closed()
        for task in (self._reader, writer):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _mark_closed(self) -> None:
        if not self.closed.is_set():
            from websockets.asyncio.client import ClientConnection

            ws = self._ws
            if isinstance(ws, ClientConnection) and ws.close_code is not None:
                self.close_code = ws.close_code
            self._event("closed")
            self.closed.set()

    # -- receiving: the handset --------------------------------------------------------------

    async def _read_loop(self) -> None:
        from websockets.asyncio.client import ClientConnection
        from websockets.exceptions import ConnectionClosed

        ws = self._ws
        assert isinstance(ws, ClientConnection)
        try:
            async for message in ws:
                text = message if isinstance(message, str) else message.decode("latin-1")
                self._on_message(text)
        except ConnectionClosed:
            pass
        finally:
            self._mark_closed()
            self._out.put_nowait(None)

    def _on_message(self, text: str) -> None:
        try:
            out = self.wire.parse(text)
        except ValueError:
            self._event("unknown", raw=text[:200])
            return
        now = self.now()
        if out.kind == "media":
            secs = len(out.audio) / 16000
            start = max(now, self._play_until)
            self._segments.append(_Segment(start, out.audio))
            self._play_until = start + secs
            self._event("media", secs=secs)
        elif out.kind == "mark":
            self._event("mark", name=out.name)
            if not self.echo_marks:
                return
            pending = _PendingMark(out.name, self._play_until)
            self._marks.append(pending)
            delay = max(0.0, self._play_until - now)
            pending.handle = asyncio.get_running_loop().call_later(delay, self._echo_mark, pending)
        elif out.kind == "clear":
            self._event("clear")
            self._cut(now)
        else:
            self._event("unknown", raw=text[:200])

    def _echo_mark(self, mark: _PendingMark) -> None:
        if mark in self._marks:
            self._marks.remove(mark)
        text = self.wire.mark(self.call, mark.name, self._next_seq())
        if text is not None:
            self._event("mark_echo", name=mark.name)
            self._send(text)

    def _cut(self, now: float) -> None:
        kept: list[_Segment] = []
        for seg in self._segments:
            if seg.start >= now:
                continue
            end = seg.start + len(seg.pcm) / 16000
            if end > now:
                keep = int((now - seg.start) * 8000) * 2
                seg = _Segment(seg.start, seg.pcm[:keep])
            kept.append(seg)
        self._segments = kept
        self._play_until = min(self._play_until, now)
        pending, self._marks = self._marks, []
        for mark in pending:
            if mark.handle is not None:
                mark.handle.cancel()
            if self.wire.echo_marks_on_clear:
                self._echo_mark(mark)
        cleared = self.wire.cleared(self.call, self._next_seq())
        if cleared is not None:
            self._send(cleared)

    # -- what the caller heard -----------------------------------------------------------------

    def heard_audio(self) -> bytes:
        """Everything played on the handset, on one 8 kHz timeline from the stream's start."""
        if not self._segments:
            return b""
        end = max(s.start + len(s.pcm) / 16000 for s in self._segments)
        out = bytearray(int(end * 8000 + 1) * 2)
        for seg in self._segments:
            pos = int(seg.start * 8000) * 2
            out[pos : pos + len(seg.pcm)] = seg.pcm
        return bytes(out)

    def save_recording(self, path: str | Path) -> None:
        """Write :meth:`heard_audio` as an 8 kHz mono WAV."""
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(self.heard_audio())

    def of(self, kind: str) -> list[SimEvent]:
        return [e for e in self.events if e.kind == kind]

    @property
    def received_audio_secs(self) -> float:
        return sum(e.secs for e in self.of("media"))

    def audio_after(self, t: float, window_secs: float) -> float:
        """Seconds of audio received in ``(t, t + window_secs]``."""
        return sum(e.secs for e in self.of("media") if t < e.t <= t + window_secs)

    async def wait_for(self, predicate: object, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until ``predicate()`` is true (checked on every event)."""
        assert callable(predicate)
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def wait_for_audio(self, secs: float, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until at least ``secs`` of bot audio has arrived in total."""
        await self.wait_for(
            lambda: self.received_audio_secs >= secs - 1e-6 or self.closed.is_set(), timeout
        )

    async def wait_for_event(self, kind: str, count: int = 1, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        await self.wait_for(lambda: len(self.of(kind)) >= count, timeout)
