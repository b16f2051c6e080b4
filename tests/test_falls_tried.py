"""benchmarks/falls_tried.py watches today's rule without changing it: the figures it gives
for changes not built are only worth reading if the rule it watches decides as the shipped one
does; and the two other fits it scores (camera-changed copies, signs held) must be what they
say. On real URFD and Le2i recordings (skipped without ../shared/data/falls)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from affectlens.eval.fall_augment import random_camera
from affectlens.eval.fall_datasets import read_le2i, read_urfd
from affectlens.eval.fall_lodo import fit_on, recordings_of
from affectlens.eval.falls import rule_detects_fall
from affectlens.events.fall_classifier import FallClassifier
from affectlens.events.fall_features import FEATURES
from affectlens.events.falls import FallRule
from benchmarks.falls_tried import PHYSICAL_SIGN, _watch, _would_fire, fit_signed

FALLS = Path(__file__).resolve().parents[2] / "shared" / "data" / "falls"


def test_watched_rule_decides_as_todays_and_sees_the_fall() -> None:
    if not (FALLS / "URFD_normalized.json").is_file():
        pytest.skip(f"shared fall data not present at {FALLS}")
    urfd = recordings_of(read_urfd(FALLS))
    model = FallClassifier.load()
    fall = next(w for w in urfd if w.label == 1)
    daily = next(w for w in urfd if w.label == 0)
    for whole in (fall, daily):
        fired, rule = _watch(whole, model)
        assert fired == rule_detects_fall(FallRule(None, model), whole)
    fired, rule = _watch(fall, model)
    assert fired and rule.later_p, "a caught fall is judged on floor frames"
    assert _would_fire(rule, 2.0) >= rule.settings.min_probability


def test_signs_held_drop_only_the_features_whose_weight_turns_against_physics() -> None:
    """Part 5 of the benchmark: URFD with Le2i gives aspect_rise a negative weight (a box
    growing wider made *less* of a fall); holding the signs drops it and keeps the rest."""
    if not (FALLS / "le2i").is_dir():
        pytest.skip(f"shared fall data not present at {FALLS}")
    urfd, le2i = read_urfd(FALLS), read_le2i(FALLS)
    sign = np.array([PHYSICAL_SIGN[f] for f in FEATURES])
    free = fit_on([urfd, le2i])
    wrong = free.weights * sign < 0
    assert [f for f, w in zip(FEATURES, wrong) if w] == ["aspect_rise"]
    held = fit_signed([urfd, le2i])
    assert (held.weights * sign >= 0).all()
    assert held.weights[FEATURES.index("aspect_rise")] == 0.0
    assert (held.weights[~wrong] != 0).all()
    # With nothing against physics (URFD alone), the fit is today's, weight for weight.
    assert np.allclose(fit_signed([urfd]).weights, fit_on([urfd]).weights)


def test_a_random_camera_moves_joints_but_never_invents_them() -> None:
    if not (FALLS / "URFD_normalized.json").is_file():
        pytest.skip(f"shared fall data not present at {FALLS}")
    urfd = read_urfd(FALLS)
    fall = next(w for w in recordings_of(urfd) if w.label == 1)
    draws = [random_camera(fall, urfd.size, np.random.default_rng(seed)) for seed in range(12)]
    again = random_camera(fall, urfd.size, np.random.default_rng(0))
    assert np.array_equal(again.bodies, draws[0].bodies) and np.array_equal(again.times,
                                                                            draws[0].times)
    seen = fall.bodies[..., 2] > 0
    for drawn in draws:
        assert (drawn.name, drawn.label) == (fall.name, fall.label)
        assert drawn.bodies.shape == fall.bodies.shape
        assert not ((drawn.bodies[..., 2] > 0) & ~seen).any(), "an unseen joint came back"
        pace = (drawn.times[-1] - drawn.times[0]) / (fall.times[-1] - fall.times[0])
        assert 0.85 <= pace <= 1.2
    # The draws differ from the recording and from each other: a camera, not a copy.
    assert all(not np.allclose(d.bodies[..., :2], fall.bodies[..., :2]) for d in draws)
    assert len({d.bodies.tobytes() for d in draws}) == len(draws)
