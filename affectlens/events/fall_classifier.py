"""The project's small learned fall classifier: logistic regression over FEATURES of a pose window.

Why so small: 201 training sequences, staged by young adults in one lab, cannot support a deep
model that generalises; eight physical quantities (descent speeds, drop, torso angle, box
shape) and nine numbers of weights can. Trained by training/train_falls.py; card
affectlens/models/cards/affectlens_falls.md; weights are JSON, read with numpy alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.errors import ModelError
from affectlens.events.fall_features import FEATURES
from affectlens.models.runtime import WEIGHTS_DIR

WEIGHTS_FILE = WEIGHTS_DIR / "affectlens_falls.json"


@dataclass(frozen=True)
class FallClassifier:
    """p(fall) for windows of pose features; NaN features take the training median."""

    median: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> FallClassifier:
        try:
            spec = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot read the fall classifier {path}: {exc}") from exc
        if tuple(spec["features"]) != FEATURES:
            raise ModelError(f"{path} was trained on other features: {spec['features']}")
        arr = {k: np.asarray(spec[k], np.float64) for k in
               ("median", "mean", "std", "low", "high", "weights")}
        return cls(**arr, bias=float(spec["bias"]), threshold=float(spec["threshold"]))

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, l2: float = 1.0, threshold: float = 0.5
            ) -> FallClassifier:
        """Class-balanced, L2-regularised logistic regression by Newton steps (numpy only)."""
        median = np.nanmedian(x, axis=0)
        filled = np.where(np.isfinite(x), x, median)
        low, high = np.percentile(filled, 1, axis=0), np.percentile(filled, 99, axis=0)
        clipped = np.clip(filled, low, high)
        mean, std = clipped.mean(axis=0), clipped.std(axis=0) + 1e-6
        z = np.hstack([(clipped - mean) / std, np.ones((len(x), 1))])
        sample_w = np.where(y == 1, 0.5 / max(y.mean(), 1e-6), 0.5 / max(1 - y.mean(), 1e-6))
        beta = np.zeros(z.shape[1])
        penalty = np.diag([l2] * (z.shape[1] - 1) + [0.0])
        for _ in range(50):
            p = 1 / (1 + np.exp(-z @ beta))
            grad = z.T @ (sample_w * (p - y)) + penalty @ beta
            hess = (z * (sample_w * p * (1 - p))[:, None]).T @ z + penalty
            step = np.linalg.solve(hess, grad)
            beta -= step
            if np.abs(step).max() < 1e-8:
                break
        return cls(median, mean, std, low, high, beta[:-1], float(beta[-1]), threshold)

    def probability(self, x: np.ndarray) -> np.ndarray:
        """(N, len(FEATURES)) -> (N,) probabilities of a fall."""
        x = np.atleast_2d(np.asarray(x, np.float64))
        filled = np.clip(np.where(np.isfinite(x), x, self.median), self.low, self.high)
        return 1 / (1 + np.exp(-(((filled - self.mean) / self.std) @ self.weights + self.bias)))

    def to_json(self, extra: dict[str, object]) -> str:
        spec: dict[str, object] = {"features": list(FEATURES)}
        for key in ("median", "mean", "std", "low", "high", "weights"):
            spec[key] = [round(float(v), 6) for v in getattr(self, key)]
        spec |= {"bias": round(self.bias, 6), "threshold": self.threshold, **extra}
        return json.dumps(spec, indent=1)
