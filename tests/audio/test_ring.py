"""SPSCRing carrying audio from a device thread to an asyncio consumer."""

from __future__ import annotations

import asyncio
import random
import threading
import time

from vani.audio.ring import SPSCRing


async def test_device_thread_feeds_the_event_loop_without_loss() -> None:
    loop = asyncio.get_running_loop()
    ring = SPSCRing(4096)
    audio = random.Random(3).randbytes(320 * 500)  # 500 frames of 10 ms at 16 kHz
    data_ready = asyncio.Event()
    done = threading.Event()

    def device() -> None:
        # A sound-card callback: writes 10 ms at a time, never blocks; wakes the loop.
        pos = 0
        while pos < len(audio):
            written = ring.write(audio[pos : pos + 320])
            if written:
                pos += written
                loop.call_soon_threadsafe(data_ready.set)
            else:
                time.sleep(0.001)  # full: a real device would drop or wait a period
        done.set()
        loop.call_soon_threadsafe(data_ready.set)

    thread = threading.Thread(target=device)
    thread.start()
    received = bytearray()
    try:
        async with asyncio.timeout(30):
            while len(received) < len(audio):
                await data_ready.wait()
                data_ready.clear()
                received += ring.read()
    finally:
        thread.join(timeout=30)
    assert done.is_set()
    assert bytes(received) == audio
