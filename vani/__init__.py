"""vani: real-time voice agents — frames through processors, with a compiled audio core.

Importing ``vani`` is cheap: submodules load on demand and nothing here imports onnxruntime,
numpy or openai.
"""

__version__ = "0.1.0"
