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


# CI runs the suite twice: on the compiled core, then on its pure-Python fallback, which must
# behave the same. The second pass leaves out what does not depend on which core runs (the
# page's JavaScript, peers' clients, the SQL tool, deployment, flows above the pipeline, the
# fakes' own protocol tests) and the slow whole-call and load runs whose core-facing parts the
# rest covers: the pass keeps to the tests of the core and what sits right on it, within
# CI's time.
COMPILED_PASS_ONLY = {
    "browser": "the browser page and its clients",
    "interop": "the wire, with Pipecat's own client",
    "deploy": "manifests",
    "server_ops": "workers, drain, nginx",
    "tools": "the Postgres tool",
    "testing": "the fakes' own protocol",
    "dhara": "flow logic above the pipeline",
    "reliability/test_many_calls.py": "load: the compiled core's capacity",
    "reliability/test_long_call.py": "soak: the compiled core's memory",
    "server/test_phone_call.py": "the providers' wire (serializers/ runs on both)",
    "server/test_phone_offline.py": "the providers' wire with local models",
    "server/test_phone_vani_run.py": "the providers' REST API",
    "server/test_offline_call.py": "the local models' time (test_demo runs them on both)",
    "server/test_cli.py": "the CLI's flags",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import vani._core

    if vani._core.COMPILED:
        return
    skip = pytest.mark.skip(reason="tests the compiled core; running on the pure-Python fallback")
    here = Path(__file__).parent
    for item in items:
        if item.get_closest_marker("compiled_only"):
            item.add_marker(skip)
            continue
        try:
            where = item.path.relative_to(here).as_posix()
        except ValueError:
            continue
        for prefix, what in COMPILED_PASS_ONLY.items():
            if where == prefix or where.startswith(prefix + "/"):
                reason = f"run on the compiled pass only: {what}"
                item.add_marker(pytest.mark.skip(reason=reason))
                break


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
