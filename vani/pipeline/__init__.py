"""Pipelines, the task that runs one, the runner, and observers."""

from vani.pipeline.observers import BaseObserver, FramePushed
from vani.pipeline.parallel import ParallelPipeline
from vani.pipeline.pipeline import Pipeline
from vani.pipeline.runner import PipelineRunner
from vani.pipeline.task import PipelineParams, PipelineTask

__all__ = [
    "BaseObserver",
    "FramePushed",
    "ParallelPipeline",
    "Pipeline",
    "PipelineParams",
    "PipelineRunner",
    "PipelineTask",
]
