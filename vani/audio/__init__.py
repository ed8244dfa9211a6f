"""asyncio-facing audio helpers wrapping the compiled core: PCM, resampling, VAD."""
