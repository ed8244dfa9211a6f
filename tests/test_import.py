"""Importing vani and building a pipeline stays light: no heavy dependency is imported."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ["onnxruntime", "openai", "numpy", "faster_whisper", "piper", "websockets", "soxr"]


def test_core_import_does_not_load_heavy_dependencies() -> None:
    code = (
        "import sys, vani, vani.frames, vani.processors, vani.pipeline, vani.testing, vani.errors\n"
        "from vani.pipeline import Pipeline, PipelineTask\n"
        "from vani.processors import FrameProcessor\n"
        "PipelineTask(Pipeline([FrameProcessor(), FrameProcessor(), FrameProcessor()]))\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_frame_builds_with_defaults_and_knows_its_kind() -> None:
    import dataclasses

    import vani.frames as frames

    for name in dir(frames):
        cls = getattr(frames, name)
        if not (isinstance(cls, type) and issubclass(cls, frames.Frame)):
            continue
        if cls in (frames.Frame,):
            continue
        required = [
            f
            for f in dataclasses.fields(cls)
            if f.init
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if required:
            continue
        frame = cls()
        assert frame.kind in frames.FrameKind
        if frame.kind is frames.FrameKind.SYSTEM:
            assert not frame.interruptible, name
    assert not frames.EndFrame().interruptible
    assert not frames.InputAudioRawFrame().interruptible
    assert not frames.FunctionCallResultFrame().interruptible
    assert frames.OutputAudioRawFrame().interruptible
    assert frames.TextFrame().id < frames.TextFrame().id
