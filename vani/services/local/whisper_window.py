"""Whisper on a window the size of the turn instead of 30 s (used by ``WhisperSTTService``).

faster-whisper pads every segment's features to Whisper's 30 s window (3000 frames) before the
encoder, so a 3 s turn pays for 30 s: measured here, tiny.en's encoder costs ~450 ms of CPU on
3000 frames and ~30 ms on 600, and the encoder is three quarters of a turn's transcription.
CTranslate2's encoder takes shorter inputs, so this module encodes the turn's features padded
(with zeros, as faster-whisper pads) to the turn plus a margin, at least ``min_secs``, and
decodes greedily or with beam search like faster-whisper's ``transcribe`` without timestamps.

Whisper was trained on 30 s windows; with too little padding it repeats itself. A decoded text
whose zlib compression ratio is over 2.4 (faster-whisper's own test for a repetition loop) is
discarded and the caller falls back to the full 30 s path, as it does for audio longer than
the window, multilingual models without a language, and model objects without the
CTranslate2 internals.

Whisper writes "You" for white or pink noise and "No." for a cough, so both paths apply
faster-whisper's no-speech test (the model's no-speech probability over ``no_speech_threshold``,
0.6, and the average token log probability under ``log_prob_threshold``, -1.0). On the short
window the same thresholds also drop a few real words (2 of 72 recordings here: "Old", "Agent
logged off"), so a turn the short window finds to be no speech is not dropped here: the caller
asks the 30 s window, whose verdict is faster-whisper's own. Only noise pays for the second
encode. See docs/services.md.
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

__all__ = ["FRAMES_PER_SEC", "MAX_FRAMES", "transcribe_window"]

FRAMES_PER_SEC = 100
MAX_FRAMES = 3000
_COMPRESSION_LIMIT = 2.4


def _repeats(text: str) -> bool:
    data = text.encode("utf-8")
    return len(data) > 0 and len(data) / len(zlib.compress(data)) > _COMPRESSION_LIMIT


def _no_speech(
    result: object,
    n_tokens: int,
    no_speech_threshold: float | None,
    log_prob_threshold: float | None,
) -> bool:
    """faster-whisper's skip rule: likely silence by the model's own no-speech token, and not
    confidently decoded either (a clear word keeps the turn whatever the no-speech token says)."""
    if no_speech_threshold is None:
        return False
    no_speech = float(getattr(result, "no_speech_prob", 0.0))
    if no_speech <= no_speech_threshold:
        return False
    if log_prob_threshold is None:
        return True
    scores = getattr(result, "scores", None) or [0.0]
    # CTranslate2's score is the sum of token log probabilities over the length (length penalty
    # 1); faster-whisper averages the sum over the tokens plus the end token.
    average = float(scores[0]) * n_tokens / (n_tokens + 1)
    return average < log_prob_threshold


def transcribe_window(
    model: object,
    audio: npt.NDArray[np.float32],
    language: str | None,
    beam_size: int,
    *,
    min_secs: float = 10.0,
    margin_secs: float = 2.0,
    no_speech_threshold: float | None = 0.6,
    log_prob_threshold: float | None = -1.0,
) -> str | None:
    """The text of ``audio`` (float32 at 16 kHz), or ``None`` when the short window does not
    apply, looks wrong, or finds no speech (the caller then transcribes the usual way, with the
    same no-speech test; module docstring). ``None`` thresholds turn the test off."""
    extractor = getattr(model, "feature_extractor", None)
    encoder = getattr(model, "model", None)
    hf_tokenizer = getattr(model, "hf_tokenizer", None)
    if extractor is None or encoder is None or hf_tokenizer is None:
        return None
    multilingual = bool(getattr(encoder, "is_multilingual", False))
    if multilingual and not language:
        return None  # needs language detection: the full path does it
    try:
        import ctranslate2  # type: ignore[import-untyped, import-not-found, unused-ignore]
        from faster_whisper.tokenizer import Tokenizer
    except ImportError:
        return None
    features = np.asarray(extractor(audio), dtype=np.float32)
    n = features.shape[-1]
    frames = max(n + round(margin_secs * FRAMES_PER_SEC), round(min_secs * FRAMES_PER_SEC))
    if frames > MAX_FRAMES:
        return None
    window = np.zeros((1, features.shape[0], frames), dtype=np.float32)
    window[0, :, :n] = features
    tokenizer = Tokenizer(
        hf_tokenizer, multilingual, task="transcribe", language=language if multilingual else None
    )
    encoded = encoder.encode(ctranslate2.StorageView.from_array(window), to_cpu=False)
    prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
    (result,) = encoder.generate(
        encoded,
        [prompt],
        beam_size=beam_size,
        max_length=224,
        suppress_blank=True,
        return_scores=True,
        return_no_speech_prob=True,
    )
    tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
    if _no_speech(result, len(tokens), no_speech_threshold, log_prob_threshold):
        return None
    text = str(tokenizer.decode(tokens)).strip()
    if _repeats(text):
        return None
    return text
