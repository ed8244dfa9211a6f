"""asyncio-facing audio: VAD, resampling, PCM helpers (wrappers over the compiled core)."""
