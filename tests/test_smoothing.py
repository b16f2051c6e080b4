"""Per-track expression smoothing: no flicker on noise, a switch on a sustained change."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.tracking.smoothing import ExpressionSmoother
from affectlens.types import EXPRESSIONS, UNCERTAIN


def probs(**shares: float) -> np.ndarray:
    """A 7-class vector with the given shares; what is left is spread over the other classes."""
    vector = np.zeros(len(EXPRESSIONS))
    for name, share in shares.items():
        vector[EXPRESSIONS.index(name)] = share
    rest = [i for i, name in enumerate(EXPRESSIONS) if name not in shares]
    vector[rest] = (1 - vector.sum()) / len(rest)
    return vector


def run(smoother: ExpressionSmoother, sequence: list[np.ndarray], fps: float, track: int = 1):
    labels, smoothed = [], []
    for i, p in enumerate(sequence):
        s, label = smoother.update(track, p, i / fps)
        labels.append(label)
        smoothed.append(s)
    return labels, np.array(smoothed)


def test_alternating_noise_never_flips_label() -> None:
    happy_lead, sad_lead = probs(happy=0.55, sad=0.45), probs(happy=0.45, sad=0.55)
    sequence = [happy_lead if i % 2 == 0 else sad_lead for i in range(200)]  # 20 s at 10 fps
    labels, smoothed = run(ExpressionSmoother(), sequence, fps=10)
    assert set(labels) == {"happy"}
    # The per-frame argmax flips every frame; the smoothed probabilities barely move.
    happy, sad = EXPRESSIONS.index("happy"), EXPRESSIONS.index("sad")
    assert np.abs(smoothed[20:, happy] - smoothed[20:, sad]).max() < 0.1


def test_sustained_change_switches_label() -> None:
    fps = 10
    sequence = [probs(happy=0.9)] * (10 * fps) + [probs(sad=0.9)] * (10 * fps)
    labels, _ = run(ExpressionSmoother(tau_s=1.0), sequence, fps=fps)
    assert set(labels[: 10 * fps]) == {"happy"}
    assert labels[-1] == "sad"
    switch = labels.index("sad")
    # The switch waits for the smoothed lead to build up, but not for long (a few tau).
    assert 10 * fps < switch <= 10 * fps + 3 * fps
    assert set(labels[switch:]) == {"sad"}  # and it does not flip back


def test_switch_delay_is_in_seconds_not_frames() -> None:
    """tau_s is a time: the same change at 5 fps and 30 fps switches at about the same time."""
    times = []
    for fps in (5, 30):
        sequence = [probs(happy=0.9)] * (10 * fps) + [probs(sad=0.9)] * (10 * fps)
        labels, _ = run(ExpressionSmoother(tau_s=1.0), sequence, fps=fps)
        times.append(labels.index("sad") / fps - 10)
    assert times[0] == pytest.approx(times[1], abs=0.25)


def test_low_probabilities_are_uncertain() -> None:
    flat = np.full(len(EXPRESSIONS), 1 / len(EXPRESSIONS))
    smoother = ExpressionSmoother(min_confidence=0.4)
    labels, _ = run(smoother, [flat] * 30, fps=10)
    assert set(labels) == {UNCERTAIN}
    weak = probs(fear=0.35, surprise=0.3)
    assert smoother.label_once(weak) == UNCERTAIN
    assert smoother.label_once(probs(fear=0.6)) == "fear"


def test_confidence_fading_becomes_uncertain() -> None:
    fps = 10
    sequence = [probs(neutral=0.8)] * (5 * fps) + [probs(neutral=0.2, angry=0.25)] * (10 * fps)
    labels, _ = run(ExpressionSmoother(), sequence, fps=fps)
    assert labels[0] == "neutral"
    assert labels[-1] == UNCERTAIN


def test_tracks_are_smoothed_independently() -> None:
    smoother = ExpressionSmoother()
    for i in range(50):
        _, a = smoother.update(1, probs(happy=0.9), i / 10)
        _, b = smoother.update(2, probs(sad=0.9), i / 10)
    assert (a, b) == ("happy", "sad")


def test_tracks_unseen_long_are_forgotten() -> None:
    smoother = ExpressionSmoother(forget_after_s=2.0)
    for n in range(500):  # faces passing by, each seen once a second apart
        smoother.update(n, probs(happy=0.9), float(n))
    assert len(smoother._tracks) <= 4
    kept = ExpressionSmoother()  # no horizon: the offline default before it was set
    for n in range(50):
        kept.update(n, probs(happy=0.9), float(n))
    assert len(kept._tracks) == 50
