"""Testing tools shipped with vani: the ``run_test`` harness and protocol-faithful fakes.

The fake servers load on first use, so importing ``vani.testing`` stays cheap.
"""

from __future__ import annotations

from vani.testing.harness import SleepFrame, run_test

__all__ = ["SleepFrame", "run_test"]
