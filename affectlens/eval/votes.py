"""Figures against the whole vote distribution of FERPlus's ten annotators, not one label.

A majority label hides disagreement: with 5 votes neutral and 4 happy, "happy" is not wrong in
the way "angry" would be. So beside majority accuracy the card reports

- the cross-entropy of the model's calibrated probabilities against the vote shares (lower is
  better; its floor is the votes' own entropy, reported beside it, which no model can beat), and
- the share of images whose top prediction is *any* class with at least 30% of the votes
  (``PLAUSIBLE_SHARE``; the multi-label reading of Barsoum et al. 2016), with its Wilson interval.

Votes are over our seven classes only (contempt, unknown and not-a-face votes dropped, see
``read_ferplus``), so the shares are of the votes for those classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectlens.eval.intervals import wilson
from affectlens.eval.metrics import bootstrap_interval

PLAUSIBLE_SHARE = 0.3  # a prediction with at least this share of the votes counts as right
_FLOOR = 1e-12  # keeps log(0) finite where the model gives a voted class no probability


def vote_shares(votes: np.ndarray) -> np.ndarray:
    """Each row of counts divided by its total (rows must have at least one vote)."""
    votes = np.asarray(votes, np.float64)
    return votes / votes.sum(1, keepdims=True)


def cross_entropy(probs: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """Per image: -sum_k share_k log p_k, in nats."""
    return -(vote_shares(votes) * np.log(np.maximum(probs, _FLOOR))).sum(1)


def vote_entropy(votes: np.ndarray) -> np.ndarray:
    """Per image: the entropy of the vote shares, the cross-entropy a perfect model would get."""
    shares = vote_shares(votes)
    return -(shares * np.log(np.where(shares > 0, shares, 1.0))).sum(1)


def plausible(predicted: np.ndarray, votes: np.ndarray,
              share: float = PLAUSIBLE_SHARE) -> np.ndarray:
    """Per image: whether the predicted class got at least ``share`` of the votes (a missed
    face, predicted -1, never does)."""
    shares = vote_shares(votes)
    picked = shares[np.arange(len(shares)), np.maximum(predicted, 0)]
    return (predicted >= 0) & (picked >= share - 1e-9)


@dataclass
class VoteFigures:
    """The vote-distribution figures of one evaluation (see the module docstring)."""

    images: int  # with votes for our classes, whether or not they have a majority label
    no_majority: int  # of those, images with no majority label (top vote tied or contempt)
    plausible_share: float  # top prediction has >= 30% of the votes (missed faces: no)
    plausible_count: int
    plausible_ci: tuple[float, float]  # Wilson 95%
    cross_entropy: float  # mean, nats, over the faces found, calibrated probabilities
    cross_entropy_ci: tuple[float, float]  # bootstrap 95% over images
    vote_entropy: float  # mean entropy of the votes: the floor of cross_entropy
    threshold: float = PLAUSIBLE_SHARE


def vote_figures(probs: np.ndarray, found: np.ndarray, votes: np.ndarray, no_majority: int,
                 resamples: int = 1000) -> VoteFigures:
    """``probs`` are calibrated probabilities for the faces found (rows of ``found``),
    ``votes`` the counts for every image."""
    predicted = np.full(len(votes), -1)
    predicted[found] = probs.argmax(1)
    right = plausible(predicted, votes)
    per_image = cross_entropy(probs, votes[found])
    return VoteFigures(
        images=len(votes),
        no_majority=no_majority,
        plausible_share=float(right.mean()),
        plausible_count=int(right.sum()),
        plausible_ci=wilson(int(right.sum()), len(right)),
        cross_entropy=float(per_image.mean()) if len(per_image) else float("nan"),
        cross_entropy_ci=bootstrap_interval(np.mean, per_image, resamples=resamples),
        vote_entropy=float(vote_entropy(votes[found]).mean()) if found.any() else float("nan"),
    )
