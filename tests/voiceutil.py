"""Audio the voice tests make themselves: a synthetic voice, silence, and files holding them.

The voice is a glottal pulse train at a known F0 (with vibrato) through three formant
resonators, in syllables of about 200 ms: what a voice activity detector keys on, with no
recording or licence behind it.
"""

from __future__ import annotations

import fractions
import wave
from pathlib import Path

import av
import numpy as np
from scipy.signal import lfilter

RATE = 16_000


def voice(seconds: float, f0: float = 140.0, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """A vowel-like voice in syllables, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = np.cumsum(pitch / rate)
    pulses = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float64)
    x = lfilter([1.0], [1.0, -0.97], pulses)  # glottal roll-off
    for formant, bandwidth in ((700, 90), (1220, 110), (2600, 160)):
        r = np.exp(-np.pi * bandwidth / rate)
        x = lfilter([1 - r], [1, -2 * r * np.cos(2 * np.pi * formant / rate), r * r], x)
    syllables = 0.5 * (1 - np.cos(2 * np.pi * 2.5 * t)) ** 0.5
    x = 0.5 * x * syllables / np.abs(x).max() + 0.001 * rng.standard_normal(len(t))
    return x.astype(np.float32)


def silence(seconds: float, rate: int = RATE, seed: int = 1) -> np.ndarray:
    """Room tone: faint noise, no voice."""
    rng = np.random.default_rng(seed)
    return (0.001 * rng.standard_normal(int(seconds * rate))).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1) -> Path:
    """16-bit PCM WAV (the same signal on every channel)."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.repeat(pcm, channels).tobytes())
    return path


def write_video(path: Path, seconds: float, samples: np.ndarray | None, fps: int = 10) -> Path:
    """A small grey MKV video, with ``samples`` (16 kHz) as its sound track, or none."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("pcm_s16le", rate=RATE, layout="mono") if samples is not None \
            else None
        for _ in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 128, np.uint8), "rgb24")
            for packet in video.encode(frame):
                out.mux(packet)
        if audio is not None and samples is not None:
            pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
            for start in range(0, len(pcm), 1600):
                chunk = av.AudioFrame.from_ndarray(pcm[None, start:start + 1600], format="s16",
                                                   layout="mono")
                chunk.sample_rate, chunk.pts = RATE, start
                chunk.time_base = fractions.Fraction(1, RATE)
                for packet in audio.encode(chunk):
                    out.mux(packet)
        for stream in (video, audio):
            if stream is not None:
                for packet in stream.encode(None):
                    out.mux(packet)
    return path
