"""Evaluation pictures as PNG bytes: reliability diagram, confusion matrix, age errors."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
from matplotlib.figure import Figure

from affectlens.report.plots import png


def reliability_diagram(confidence: list[float], accuracy: list[float], count: list[int],
                        ece: float, title: str) -> bytes:
    """Accuracy per confidence bin against the diagonal of perfect calibration."""
    fig = Figure(figsize=(4.2, 4.2))
    ax = fig.subplots()
    bins = len(count)
    centres = (np.arange(bins) + 0.5) / bins
    filled = np.array(count) > 0
    ax.bar(centres[filled], np.array(accuracy)[filled], width=1 / bins, edgecolor="#1f4e79",
           color="#6fa8dc", label="accuracy in bin")
    ax.plot([0, 1], [0, 1], "--", color="#444444", label="perfect calibration")
    ax.plot(np.array(confidence)[filled], np.array(accuracy)[filled], "o", color="#c00000",
            markersize=3, label="mean confidence")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("top-class probability")
    ax.set_ylabel("share correct")
    ax.set_title(f"{title}\nECE {ece:.3f}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    return png(fig)


def confusion_plot(matrix: list[list[int]], labels: list[str], rows: list[str]) -> bytes:
    """Row-normalised confusion for the classes present in the data (rows) against all labels."""
    m = np.array(matrix, float)
    index = [labels.index(r) for r in rows]
    m = m[index]
    m = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig = Figure(figsize=(5.2, 0.45 * len(rows) + 1.6))
    ax = fig.subplots()
    ax.imshow(m, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if m[i, j] > 0.5 else "black")
    return png(fig)


def age_errors(truth: np.ndarray, predicted: np.ndarray, title: str) -> bytes:
    """Predicted against true age, with the running median error."""
    fig = Figure(figsize=(4.6, 4.2))
    ax = fig.subplots()
    ax.scatter(truth, predicted, s=3, alpha=0.35, color="#1f77b4")
    top = float(max(truth.max(initial=1), np.nanmax(predicted, initial=1))) + 5
    ax.plot([0, top], [0, top], "--", color="#444444", label="perfect")
    edges = np.arange(0, top + 10, 10)
    mids, medians = [], []
    for low, high in pairwise(edges):
        sel = (truth >= low) & (truth < high)
        if sel.sum() >= 5:
            mids.append((low + high) / 2)
            medians.append(np.median(predicted[sel]))
    ax.plot(mids, medians, "-o", color="#c00000", markersize=3, label="median per decade")
    ax.set_xlabel("true age")
    ax.set_ylabel("estimated age")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return png(fig)


def group_label_shares(groupings: list[tuple[str, list[str], np.ndarray]],
                       classes: list[str]) -> bytes:
    """Per grouping (title, group names, (groups, classes) label shares): grouped bars."""
    fig = Figure(figsize=(7.5, 2.6 * len(groupings)))
    axes = np.atleast_1d(fig.subplots(len(groupings), 1))
    for ax, (title, names, shares) in zip(axes, groupings):
        width = 0.8 / max(len(names), 1)
        for i, (name, row) in enumerate(zip(names, shares)):
            ax.bar(np.arange(len(classes)) + (i - (len(names) - 1) / 2) * width, row,
                   width=width, label=name)
        ax.set_xticks(range(len(classes)), classes, fontsize=8)
        ax.set_ylabel("share of faces", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, ncol=min(len(names), 6))
    fig.tight_layout()
    return png(fig)
