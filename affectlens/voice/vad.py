"""Where there is speech: WebRTC's voice activity detector (a GMM in C, no weights to ship),
then speech segments cut into the 1-4 s windows the classifier was trained on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

from affectlens.voice.features import SAMPLE_RATE

FRAME_S = 0.03  # webrtcvad takes 10, 20 or 30 ms frames
FRAME = int(FRAME_S * SAMPLE_RATE)


def speech_flags(samples: np.ndarray, aggressiveness: int) -> np.ndarray:
    """One bool per 30 ms frame: whether WebRTC's VAD hears speech in it."""
    vad = webrtcvad.Vad(aggressiveness)
    count = len(samples) // FRAME
    pcm = (np.clip(samples[: count * FRAME], -1.0, 1.0) * 32767).astype("<i2").tobytes()
    step = FRAME * 2
    return np.array([vad.is_speech(pcm[i * step:(i + 1) * step], SAMPLE_RATE)
                     for i in range(count)], bool)


@dataclass(frozen=True)
class Window:
    """A stretch of audio to classify, in seconds from the start of the audio, and the share
    of its 30 ms frames the VAD heard as speech."""

    start_s: float
    end_s: float
    speech: float


def segments(flags: np.ndarray, bridge_s: float) -> list[tuple[float, float]]:
    """Runs of speech frames as (start_s, end_s), joining runs less than ``bridge_s`` apart."""
    edges = np.diff(np.r_[0, flags.astype(np.int8), 0])
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out: list[tuple[float, float]] = []
    for start, end in zip(starts * FRAME_S, ends * FRAME_S):
        if out and start - out[-1][1] < bridge_s:
            out[-1] = (out[-1][0], float(end))
        else:
            out.append((float(start), float(end)))
    return out


def windows(flags: np.ndarray, *, min_s: float, max_s: float, length_s: float,
            hop_s: float, bridge_s: float) -> list[Window]:
    """Speech segments shorter than ``min_s`` are dropped (too little to judge); up to
    ``max_s`` one window each; longer ones are covered by ``length_s`` windows every
    ``hop_s`` at most, the last ending with the segment."""
    out = []
    for start, end in segments(flags, bridge_s):
        span = end - start
        if span < min_s:
            continue
        if span <= max_s:
            bounds = [(start, end)]
        else:
            count = int(np.ceil((span - length_s) / hop_s)) + 1
            bounds = [(s, s + length_s) for s in np.linspace(start, end - length_s, count)]
        for a, b in bounds:
            share = flags[round(a / FRAME_S):round(b / FRAME_S)]
            out.append(Window(round(float(a), 3), round(float(b), 3),
                              float(share.mean()) if share.size else 0.0))
    return out
