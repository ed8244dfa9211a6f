"""The server's benchmarks in quick mode (what CI runs): each scenario once, tiny.

    python benchmarks/serve_cold_start.py --repeat 5     # vani serve: process start -> bot-ready
    python benchmarks/server_stack.py --calls 100        # which HTTP/WebSocket stack, measured

Full figures and how they were taken: benchmarks/README.md.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import serve_cold_start
import server_stack


def test_cold_start_reaches_bot_ready() -> None:
    result = asyncio.run(serve_cold_start.measure(1, offline=False))
    assert float(str(result["bot_ready_ms"])) > float(str(result["listening_ms"])) > 0


def test_each_stack_carries_a_few_calls() -> None:
    for stack in ("bridge", "uvicorn-sansio"):
        result = asyncio.run(server_stack._measure(stack, calls=4, secs=0.5))
        assert int(result["messages_per_sec"]) > 0
