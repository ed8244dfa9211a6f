"""Frame processors: the base class and the generic processors built on it."""

from vani.frames import FrameDirection
from vani.processors.frame_processor import FrameProcessor, PushObserver

__all__ = ["FrameDirection", "FrameProcessor", "PushObserver"]
