"""The deterministic counter gate (benchmarks/counters.py) in the test run.

Fails when an operation's instruction count grew by more than 3 % over the committed baseline,
or a steady-state path started to keep memory; on a machine that does not match the baseline's
it only reports (the script exits 0 with a warning). tools/ci/setup-30-valgrind.sh installs
valgrind in CI.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "counters.py"


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.compiled_only  # the baseline counts the compiled core
def test_counters_within_the_baseline() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=900, check=False
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "counters within the baseline" in done.stdout or "warning:" in done.stdout
