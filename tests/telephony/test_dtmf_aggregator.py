"""DTMFAggregator: digits become one transcript on '#' or after the timeout."""

from __future__ import annotations

import pytest

from vani.errors import ConfigurationError
from vani.frames import InputDTMFFrame, InterruptionFrame, TranscriptionFrame
from vani.processors.aggregators import DTMFAggregator
from vani.testing import SleepFrame, run_test


async def test_pound_ends_the_sequence() -> None:
    down, up = await run_test(
        DTMFAggregator(interrupt_on_first_digit=False),
        frames_to_send=[InputDTMFFrame(button=b) for b in "123#"],
    )
    texts = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    assert texts == ["DTMF: 123"]
    assert sum(isinstance(f, InputDTMFFrame) for f in down) == 4


async def test_timeout_ends_the_sequence() -> None:
    down, _ = await run_test(
        DTMFAggregator(timeout_secs=0.05, interrupt_on_first_digit=False),
        frames_to_send=[
            InputDTMFFrame(button="4"),
            InputDTMFFrame(button="2"),
            SleepFrame(sleep=0.3),
            InputDTMFFrame(button="9"),
            SleepFrame(sleep=0.3),
        ],
    )
    texts = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    assert texts == ["DTMF: 42", "DTMF: 9"]


async def test_first_digit_interrupts_and_end_flushes() -> None:
    down, up = await run_test(
        DTMFAggregator(prefix="keys "),
        frames_to_send=[InputDTMFFrame(button="7"), InputDTMFFrame(button="*")],
    )
    assert sum(isinstance(f, InterruptionFrame) for f in up) == 1
    texts = [f.text for f in down if isinstance(f, TranscriptionFrame)]
    assert texts == ["keys 7*"]  # flushed before the EndFrame


def test_bad_settings() -> None:
    with pytest.raises(ConfigurationError):
        DTMFAggregator(timeout_secs=0)
    with pytest.raises(ConfigurationError):
        DTMFAggregator(termination_digit="x")
