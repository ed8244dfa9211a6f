"""The compiled core: synchronous, deterministic, sans-I/O objects built from ``csrc/*.pyx``.

Nothing here knows about asyncio except ``queue.FrameQueue.get``; nothing reads a clock or logs.
Each object has a small pure-Python reference in ``vani._core.reference`` that the tests hold it
to.
"""
