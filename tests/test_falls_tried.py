"""benchmarks/falls_tried.py watches today's rule without changing it: the figures it gives
for changes not built are only worth reading if the rule it watches decides as the shipped one
does. On real URFD recordings (skipped without ../shared/data/falls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from affectlens.eval.fall_datasets import read_urfd
from affectlens.eval.fall_lodo import recordings_of
from affectlens.eval.falls import rule_detects_fall
from affectlens.events.fall_classifier import FallClassifier
from affectlens.events.falls import FallRule
from benchmarks.falls_tried import _watch, _would_fire

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
