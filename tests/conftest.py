"""Fixtures shared by every test.

``no_leaks`` (autouse) fails an async test that leaves a task running or a task exception that
nobody retrieved: nothing a pipeline starts may outlive it.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import vani

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_report_header() -> str:
    return f"vani {vani.__version__} from {Path(vani.__file__).parent}"


def pytest_configure(config: pytest.Config) -> None:
    # CI tests the installed wheel: make sure that is what got imported.
    if os.environ.get("VANI_TEST_INSTALLED") == "1" and "site-packages" not in vani.__file__:
        raise pytest.UsageError(f"expected vani from site-packages, imported {vani.__file__}")
    config.addinivalue_line(
        "markers",
        "compiled_only: a property of the compiled core itself (its SIMD loops, allocations);"
        " skipped when vani runs on the pure-Python fallback",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import vani._core

    if vani._core.COMPILED:
        return
    skip = pytest.mark.skip(reason="tests the compiled core; running on the pure-Python fallback")
    for item in items:
        if item.get_closest_marker("compiled_only"):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
async def no_leaks() -> AsyncIterator[None]:
    loop = asyncio.get_running_loop()
    problems: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: problems.append(context))
    me = asyncio.current_task()
    before = {t for t in asyncio.all_tasks() if t is not me}
    yield
    for _ in range(3):
        await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and t not in before]
    for t in leaked:
        t.cancel()
    if leaked:
        await asyncio.wait(leaked, timeout=1.0)
    gc.collect()
    loop.set_exception_handler(previous)
    assert not leaked, f"tasks left running: {[t.get_name() for t in leaked]} {leaked}"
    assert not problems, f"unobserved task exceptions or loop errors: {problems}"
