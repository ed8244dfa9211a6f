"""examples/test_my_bot_performance.py, run as a user runs it: pytest with vani's plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import vani

EXAMPLE = Path(__file__).parents[2] / "examples" / "test_my_bot_performance.py"


# The example's budget (200 ms of CPU per second of audio) is the compiled core's, which a wheel
# installs; the pure-Python fallback spends 110-210 ms there, so on that pass the budget, not the
# plugin (which does not depend on the core), would be under test.
@pytest.mark.compiled_only
def test_the_plugin_profiles_a_users_pipeline(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "pytest", str(EXAMPLE), "-q", "-s", "-p", "no:cacheprovider"]
    cmd += ["--rootdir", str(tmp_path), "-o", "asyncio_mode=auto"]
    if not any(ep.value == "vani.testing.pytest_plugin" for ep in entry_points(group="pytest11")):
        cmd += ["-p", "vani.testing.pytest_plugin"]  # a checkout: the entry point is not installed
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(vani.__file__).parents[1]), env.get("PYTHONPATH")])
    )
    done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 passed" in done.stdout
    assert "CallProfile(audio_secs=5.6" in done.stdout
