"""vani falls back to the pure-Python core, with one warning, when the compiled one is missing."""

from __future__ import annotations

import os
import subprocess
import sys

PROBE = """
import warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import vani._core as core
    import vani._core.pcm as pcm
    from vani.audio.pcm import rms
    from vani.pipeline import Pipeline, PipelineTask
    from vani.processors import FrameProcessor
    PipelineTask(Pipeline([FrameProcessor()]))
print(core.COMPILED, pcm.__name__, rms(b"\\x00\\x10" * 160) > 0)
print(len([w for w in caught if "pure-Python core" in str(w.message)]))
print("numpy" in sys.modules)
"""

HIDE_QUEUE = """
import importlib.abc, importlib.util, sys
class Hide(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "vani._core.queue":
            return importlib.util.spec_from_loader(name, self)
    def create_module(self, spec):
        raise ImportError("simulated broken build")
    def exec_module(self, module):
        pass
sys.meta_path.insert(0, Hide())
"""


def run(code: str, **env: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", "import sys\n" + code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    return out.stdout.split("\n")


def test_the_switch_serves_the_reference_modules_with_one_warning() -> None:
    lines = run(PROBE, VANI_PURE_PYTHON="1")
    assert lines[0] == "False vani._core.reference.pcm True"
    assert lines[1] == "1"
    assert lines[2] == "False"  # the fallback keeps import vani light too


def test_a_missing_compiled_module_falls_back_by_itself() -> None:
    env = {k: v for k, v in os.environ.items() if k != "VANI_PURE_PYTHON"}
    out = subprocess.run(
        [sys.executable, "-c", "import sys\n" + HIDE_QUEUE + PROBE],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    lines = out.stdout.split("\n")
    assert lines[0] == "False vani._core.reference.pcm True"
    assert lines[1] == "1"


def test_the_compiled_core_is_used_when_present_and_not_switched_off() -> None:
    env = {k: v for k, v in os.environ.items() if k != "VANI_PURE_PYTHON"}
    out = subprocess.run(
        [sys.executable, "-c", "import sys\n" + PROBE], capture_output=True, text=True, env=env
    )
    import vani._core

    if not vani._core.COMPILED and os.environ.get("VANI_PURE_PYTHON") != "1":
        # This interpreter has no compiled core at all: the probe must say so too.
        assert out.stdout.startswith("False")
        return
    assert out.stdout.split("\n")[:2] == ["True vani._core.pcm True", "0"]
