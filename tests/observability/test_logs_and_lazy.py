"""Session ids on log lines across tasks, and no cost for what is not used."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading

import pytest

from vani.observability import (
    SessionIdFilter,
    SessionLoggerAdapter,
    current_session_id,
    install_session_logging,
    session_context,
)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("[%(session_id)s] %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def capture() -> object:
    install_session_logging()
    handler = _Capture()
    logger = logging.getLogger("vani.test.sessions")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


async def test_concurrent_calls_and_their_tasks_log_their_own_session_id(
    capture: _Capture,
) -> None:
    log = logging.getLogger("vani.test.sessions")

    async def work(step: int) -> None:
        await asyncio.sleep(0.001 * step)
        log.info("step %d", step)

    async def call(session_id: str) -> None:
        with session_context(session_id):
            log.info("call starts")
            # Tasks created inside the call (processors, observers) inherit the id.
            await asyncio.gather(*(asyncio.create_task(work(i)) for i in range(3)))
            log.info("call ends")

    await asyncio.gather(call("a"), call("b"))
    log.info("outside")
    by_id: dict[str, int] = {}
    for line in capture.lines:
        sid = line[1 : line.index("]")]
        by_id[sid] = by_id.get(sid, 0) + 1
    assert by_id == {"a": 5, "b": 5, "-": 1}
    assert current_session_id() is None


def test_adapter_logs_from_another_thread_under_the_call_id(capture: _Capture) -> None:
    log = SessionLoggerAdapter(logging.getLogger("vani.test.sessions"), "call-7")
    thread = threading.Thread(target=lambda: log.warning("from a thread"))
    thread.start()
    thread.join()
    assert capture.lines == ["[call-7] from a thread"]


def test_filter_alone_fills_the_attribute() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    with session_context("s-1"):
        assert SessionIdFilter().filter(record)
    assert record.session_id == "s-1"


def test_importing_observability_loads_neither_prometheus_nor_opentelemetry() -> None:
    code = (
        "import sys, vani.observability as o\n"
        "assert 'prometheus_client' not in sys.modules, 'prometheus'\n"
        "assert not any(m.startswith('opentelemetry') for m in sys.modules), 'otel'\n"
        "o.VaniMetrics\n"
        "assert 'prometheus_client' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_vani_run_logs_name_the_call(tmp_path: object) -> None:
    import logging as lg

    from vani.observability.logs import use_session_format

    root = lg.getLogger()
    handler = lg.StreamHandler()
    root.addHandler(handler)
    try:
        use_session_format()
        record = lg.LogRecord("vani.server", lg.INFO, __file__, 1, "call ended", None, None)
        with session_context("c-9"):
            record = lg.getLogRecordFactory()(
                "vani.server", lg.INFO, __file__, 1, "call ended", None, None
            )
        assert handler.format(record) == "INFO [c-9] vani.server: call ended"
    finally:
        root.removeHandler(handler)
