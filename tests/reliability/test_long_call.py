"""A long call on the virtual clock (10 simulated minutes in CI; 60 for the report) leaves
memory, tasks, objects and sockets flat after the warm-up. See long_call.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vani.audio.vad_processor")

SCRIPT = Path(__file__).with_name("long_call.py")


@pytest.mark.slow
def test_ten_simulated_minutes_of_talking_barging_in_and_tools_leave_nothing_behind() -> None:
    root = str(Path(__file__).parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, root])}
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--minutes", "10", "--warmup-minutes", "3"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=True,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    # The call really happened: every turn answered, barge-ins and tool calls throughout.
    # (A barge-in that comes before the reply started continues its turn, so a turn or two
    # may merge: the fakes run in another process, and their replies take real time.)
    assert result["transcripts_expected"] >= 80
    assert result["turns"] >= 0.95 * result["transcripts_expected"]
    assert result["interruptions"] >= 25
    assert result["tool_calls"] >= 15
    assert result["errors"] == []
    growth = result["growth_after_warmup"]
    floor = result["floor_growth_after_warmup"]
    # Per turn, nothing may stay behind: 60+ turns after the warm-up would show a leak of even
    # a few objects each. (What grows legitimately: the report's list of tool calls, capped.)
    # Tasks and sockets are compared by their floor: a sample may catch one in flight.
    why = {k: result[k] for k in ("task_growth", "floor_growth_after_warmup", "samples")}
    assert floor["tasks"] <= 0, why
    assert floor["sockets"] <= 0, why
    assert growth["objects"] < 300, result
    assert growth["rss_mib"] < 4.0, result
