"""DTMFAggregator: the caller's keypad presses as text the LLM can read.

Phone callers answer menus with keys. Each :class:`~vani.frames.InputDTMFFrame` (from a telephony
serializer, or RTVI ``dtmf``) is collected; the sequence ends when the caller presses the
termination digit (``#`` by default, kept out of the text) or stops pressing for ``timeout_secs``,
and goes downstream as one :class:`~vani.frames.TranscriptionFrame` (``"DTMF: 1234"``), which the
user context aggregator adds to the context like speech. Pipecat's spelling and defaults. See
``docs/telephony.md``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from vani.errors import ConfigurationError
from vani.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FrameDirection,
    InputDTMFFrame,
    TranscriptionFrame,
)
from vani.processors import FrameProcessor

__all__ = ["DTMFAggregator"]


class DTMFAggregator(FrameProcessor):
    """Gathers keypad digits into one transcript.

    ``timeout_secs``: silence after the last press that ends the sequence. ``termination_digit``:
    ends it at once (``None``: only the timeout does). ``prefix``: put before the digits.
    ``interrupt_on_first_digit``: the first press of a sequence interrupts the bot (the caller is
    answering). The ``InputDTMFFrame`` s pass on unchanged; a pending sequence is flushed before
    an ``EndFrame``.
    """

    def __init__(
        self,
        *,
        timeout_secs: float = 2.0,
        termination_digit: str | None = "#",
        prefix: str = "DTMF: ",
        interrupt_on_first_digit: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if timeout_secs <= 0:
            raise ConfigurationError(f"timeout_secs must be positive, got {timeout_secs}")
        if termination_digit is not None and termination_digit not in "0123456789*#ABCD":
            raise ConfigurationError(
                f"termination_digit must be a dtmf key or None, got {termination_digit!r}"
            )
        self.timeout_secs = timeout_secs
        self.termination_digit = termination_digit
        self.prefix = prefix
        self.interrupt_on_first_digit = interrupt_on_first_digit
        self._digits: list[str] = []
        self._timer: asyncio.Task[object] | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, InputDTMFFrame) and direction is FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)
            await self._on_digit(frame.button)
            return
        if isinstance(frame, EndFrame):
            await self._flush()
        elif isinstance(frame, CancelFrame):
            self._stop_timer()
            self._digits.clear()
        await self.push_frame(frame, direction)

    async def stop(self, frame: EndFrame) -> None:
        self._stop_timer()
        await super().stop(frame)

    async def _on_digit(self, digit: str) -> None:
        self._stop_timer()
        if digit == self.termination_digit:
            await self._flush()
            return
        first = not self._digits
        self._digits.append(digit)
        if first and self.interrupt_on_first_digit and self.interruptions_allowed:
            await self.broadcast_interruption()
        self._timer = self.create_task(self._expire(), name="dtmf-timeout")

    async def _expire(self) -> None:
        await asyncio.sleep(self.timeout_secs)
        self._timer = None
        await self._flush()

    def _stop_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer is not asyncio.current_task():
            timer.cancel()

    async def _flush(self) -> None:
        if not self._digits:
            return
        text = self.prefix + "".join(self._digits)
        self._digits.clear()
        stamp = datetime.now(UTC).isoformat()
        await self.push_frame(TranscriptionFrame(text=text, user_id="", timestamp=stamp))
