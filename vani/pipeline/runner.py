"""PipelineRunner: runs tasks and ends them cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal

from vani.pipeline.task import PipelineTask

logger = logging.getLogger(__name__)


class PipelineRunner:
    """``await PipelineRunner().run(task)`` runs ``task`` until it finishes.

    With ``handle_sigint`` (default) SIGINT and SIGTERM cancel the running tasks, which end
    cleanly: every processor sees the CancelFrame and nothing is left running.
    """

    def __init__(
        self, *, name: str | None = None, handle_sigint: bool = True, handle_sigterm: bool = True
    ) -> None:
        self._name = name or "PipelineRunner"
        self._handle_sigint = handle_sigint
        self._handle_sigterm = handle_sigterm and handle_sigint
        self._tasks: set[PipelineTask] = set()
        self._signal_tasks: set[asyncio.Task[None]] = set()

    async def run(self, task: PipelineTask) -> None:
        loop = asyncio.get_running_loop()
        installed: list[signal.Signals] = []
        if self._handle_sigint:
            signals = (signal.SIGINT, signal.SIGTERM) if self._handle_sigterm else (signal.SIGINT,)
            for sig in signals:
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    # Not the main thread, or a platform without loop signal handling.
                    logger.debug("%s: cannot handle %s here", self._name, sig.name)
        self._tasks.add(task)
        try:
            await task.run()
        finally:
            self._tasks.discard(task)
            for sig in installed:
                loop.remove_signal_handler(sig)
            if self._signal_tasks:
                await asyncio.wait(self._signal_tasks)

    def _on_signal(self, sig: signal.Signals) -> None:
        logger.info(
            "%s: %s received, cancelling %d task(s)", self._name, sig.name, len(self._tasks)
        )
        t = asyncio.get_running_loop().create_task(self.cancel(f"{sig.name} received"))
        self._signal_tasks.add(t)
        t.add_done_callback(self._signal_tasks.discard)

    async def cancel(self, reason: str | None = None) -> None:
        """Cancel every task this runner is running."""
        for task in list(self._tasks):
            await task.cancel(reason)
