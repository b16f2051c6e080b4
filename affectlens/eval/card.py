"""Evaluation cards: one list of blocks rendered as Markdown (with PNG files) and as HTML.

A card says what was measured, on which data, by which command, and what the data cannot
show; the JSON beside it holds every figure for machines.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from affectlens.eval.age import ADULT_AGE, AgePredictions, AgeReport, GroupError
from affectlens.eval.datasets import DataKind
from affectlens.eval.disparity import MIN_REFERENCE_FACES, DisparityReport
from affectlens.eval.expression import ExpressionReport
from affectlens.eval.plots import (
    age_errors,
    confusion_plot,
    group_label_shares,
    reliability_diagram,
)
from affectlens.eval.smile import SCALE_FILE
from affectlens.types import EXPRESSIONS

# What each public dataset cannot show; chosen by the files' naming scheme (detect_kind) or
# `--data-kind`, never by what the folder is called.
DATA_LIMITS = {
    DataKind.fer2013: "FER2013: web images at 48x48 grey, labels by crowd workers with about "
    "65% human agreement, so no model can be judged much above that ceiling; few disgust "
    "images.",
    DataKind.ferplus: "FERPlus: the FER2013 web images (48x48 grey) relabelled by 10 "
    "annotators each; a majority label hides how much they disagree, and the people in them "
    "are no sample of any population.",
    DataKind.ckplus: "CK+: expressions posed by actors in a laboratory, near-frontal and well "
    "lit; the last frames of each sequence are near-duplicates, so intervals are too narrow. "
    "Posed peaks are easier than everyday expressions.",
    DataKind.utkface: "UTKFace: ages from scraped captions (noisy), few people over 80, race "
    "and gender labels assigned by annotators in five coarse groups; these are used here only "
    "to measure error per group.",
}


@dataclass
class Card:
    title: str
    command: str
    blocks: list[tuple] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)

    def text(self, paragraph: str) -> None:
        self.blocks.append(("p", paragraph))

    def heading(self, title: str) -> None:
        self.blocks.append(("h", title))

    def table(self, header: list[str], rows: list[list[str]]) -> None:
        self.blocks.append(("table", header, rows))

    def image(self, name: str, png: bytes, alt: str) -> None:
        self.images[name] = png
        self.blocks.append(("img", name, alt))

    def markdown(self) -> str:
        out = [f"# {self.title}", "", f"Produced by: `{self.command}`", ""]
        for block in self.blocks:
            if block[0] == "h":
                out += [f"## {block[1]}", ""]
            elif block[0] == "p":
                out += [block[1], ""]
            elif block[0] == "table":
                out.append("| " + " | ".join(block[1]) + " |")
                out.append("|" + "---|" * len(block[1]))
                out += ["| " + " | ".join(row) + " |" for row in block[2]]
                out.append("")
            else:
                out += [f"![{block[2]}]({block[1]})", ""]
        return "\n".join(out)

    def html(self) -> str:
        e = html.escape
        body = [f"<h1>{e(self.title)}</h1>", f"<p>Produced by: <code>{e(self.command)}</code></p>"]
        for block in self.blocks:
            if block[0] == "h":
                body.append(f"<h2>{e(block[1])}</h2>")
            elif block[0] == "p":
                body.append(f"<p>{e(block[1])}</p>")
            elif block[0] == "table":
                head = "".join(f"<th>{e(h)}</th>" for h in block[1])
                rows = "".join(
                    "<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in block[2]
                )
                body.append(f"<table><tr>{head}</tr>{rows}</table>")
            else:
                data = base64.b64encode(self.images[block[1]]).decode()
                body.append(f'<img alt="{e(block[2])}" src="data:image/png;base64,{data}">')
        style = (
            "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;"
            "color:#222}table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid "
            "#ccc;padding:.25rem .6rem;text-align:left}img{margin:.5rem 1rem .5rem 0}"
        )
        return (
            f"<!doctype html><html lang=en><meta charset=utf-8><title>{e(self.title)}</title>"
            f"<style>{style}</style><body>{''.join(body)}</body></html>"
        )

    def write(self, out: Path, figures: dict) -> list[Path]:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, png in self.images.items():
            (out / name).write_bytes(png)
            written.append(out / name)
        for name, text in (("card.md", self.markdown()), ("card.html", self.html()),
                           ("report.json", json.dumps(_finite(figures), indent=2))):
            (out / name).write_text(text)
            written.append(out / name)
        return written


def _finite(value: object) -> object:
    """NaN is not JSON: it becomes null."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def pct(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{100 * value:.1f}%"


def years(value: float) -> str:
    """An age error, or n/a where the data has no one to measure it on (no one over 60...)."""
    return "n/a" if not math.isfinite(value) else f"{value:.2f}"


def interval(ci: tuple[float, float], percent: bool = True) -> str:
    low, high = ci
    return f"{pct(low)} to {pct(high)}" if percent else f"{low:.3f} to {high:.3f}"


def limits_for(kind: str) -> str:
    """What the dataset of this kind cannot show; for other data, what to find out first."""
    return DATA_LIMITS.get(DataKind(kind), "Data of no public set this card knows (by its file "
                           "names or --data-kind): describe its collection, labels and who is in "
                           "it before relying on a figure.")


def training_overlap(seen: int | None, trained_on: str, images: int) -> str:
    """Whether the model was scored on images it was trained on, by its training manifest."""
    if seen is None:
        return ("This model ships no list of its training images, so whether it saw these "
                "cannot be checked.")
    if seen:
        return (f"{seen} of these {images} images are in the model's training data "
                f"({trained_on}): its figures on them flatter it.")
    return f"None of these images is in the model's training data ({trained_on})."


def expression_card(report: ExpressionReport, command: str) -> Card:
    card = Card(f"Expression model {report.model} on {Path(report.data).name}", command)
    card.text(
        f"{report.images} images from {report.data}, faces taken as {report.mode}"
        + (f"; {report.missed_faces} images where no face was found count as errors in "
           "accuracy, macro-F1 and recall, while calibration (ECE) and coverage are over the "
           "faces found" if report.mode == "detect" else "")
        + ". Intervals are 95% bootstrap intervals over images"
        + ("" if 0 < report.accuracy < 1 else ", except accuracy's: with every image "
           + ("right" if report.accuracy == 1 else "wrong") + " the bootstrap collapses to a "
           "point, so it is the exact (Clopper-Pearson) interval")
        + ". " + training_overlap(report.seen_in_training, report.trained_on, report.images)
        + (f" {report.unreadable_images} files that are not readable images are left out."
           if report.unreadable_images else "")
    )
    if report.votes is not None:
        card.text(_ferplus_rules(report))
    elif report.left_out:
        card.text("Classes this model does not predict, left out: " + ", ".join(
            f"{name} ({n} images)" for name, n in report.left_out.items()))
    card.heading("Summary")
    card.table(["measure", "value", "95% interval"], [
        ["accuracy", pct(report.accuracy), interval(report.accuracy_ci)],
        ["macro-F1", f"{report.macro_f1:.3f}", interval(report.macro_f1_ci, percent=False)],
        ["ECE (15 bins), calibrated", f"{report.ece:.3f}", interval(report.ece_ci, False)],
        ["ECE before calibration", f"{report.ece_uncalibrated:.3f}", ""],
        ["temperature", f"{report.temperature:.3f}", ""],
        [f"coverage at confidence >= {report.abstain_below:.2f}", pct(report.coverage), ""],
        ["accuracy on covered faces", pct(report.covered_accuracy), ""],
    ])
    if report.votes is not None:
        v = report.votes
        card.heading("Against the whole vote distribution")
        card.table(["measure", "value", "95% interval"], [
            [f"top prediction has at least {v.threshold:.0%} of the votes ({v.images} images)",
             pct(v.plausible_share), interval(v.plausible_ci) + " (Wilson)"],
            ["cross-entropy against the vote shares, nats", f"{v.cross_entropy:.3f}",
             interval(v.cross_entropy_ci, percent=False)],
            ["entropy of the votes themselves (its floor)", f"{v.vote_entropy:.3f}", ""],
        ])
    card.heading("Recall per class")
    card.table(["class", "recall"], [[c, pct(r)] for c, r in report.recall.items()])
    card.heading("Confusion and calibration")
    card.image("confusion.png", confusion_plot(report.confusion, list(EXPRESSIONS),
                                               report.classes), "confusion matrix")
    rel = report.reliability
    card.image("reliability.png", reliability_diagram(
        rel["confidence"], rel["accuracy"], rel["count"], report.ece,
        f"{report.model}, calibrated (T={report.temperature:.2f})"), "reliability diagram")
    card.heading("Limits")
    card.text(limits_for(report.data_kind))
    return card


def _ferplus_rules(report: ExpressionReport) -> str:
    v = report.votes
    assert v is not None
    counts = ", ".join(f"{name} {n}" for name, n in report.left_out.items()) or "none"
    return (
        f"FERPlus votes: accuracy, macro-F1, recall, confusion and calibration are against the "
        f"majority label (the class with the most of the 10 votes) on {report.images} images; "
        f"the vote figures are over the {v.images} images with a vote for one of our seven "
        f"classes, including {v.no_majority} with no majority label. Left out or without a "
        f"majority label: {counts}. A tied top vote has no majority label; an image whose top "
        "vote is unknown or not a face is left out; contempt votes are dropped (the model has "
        "no contempt class, and mapping it to disgust or anger would score it against a label "
        "no annotator gave), and an image whose top vote is contempt has no majority label.")


def _group_rows(groups: list[GroupError]) -> list[list[str]]:
    return [[g.name, str(g.n), f"{g.mae:.2f} ({g.mae_ci[0]:.2f} to {g.mae_ci[1]:.2f})",
             f"{g.mean_error:+.2f}"] for g in groups]


def age_card(report: AgeReport, predictions: AgePredictions, command: str) -> Card:
    card = Card(f"Age model {report.model} on {Path(report.data).name}", command)
    card.text(
        f"{report.images} images from {report.data} ({report.malformed_names} malformed file "
        f"names skipped), faces taken as {report.mode}; {report.missed_faces} without a face "
        "found are left out of the errors. Mean error is estimated minus true age. "
        + training_overlap(report.seen_in_training, report.trained_on, report.images)
        + (f" {report.unreadable_images} files that are not readable images are left out."
           if report.unreadable_images else "")
    )
    card.heading("Summary")
    card.table(["measure", "value"], [
        ["MAE, years", f"{report.mae:.2f} (95% interval {report.mae_ci[0]:.2f} to "
                       f"{report.mae_ci[1]:.2f})"],
        ["mean error, years", f"{report.mean_error:+.2f}"],
        ["MAE at 60 and over", years(report.mae_60_plus)],
        ["largest gap between race groups (adults, MAE)", years(report.race_gap_adult)],
        ["the same gap, age-standardised", years(report.race_gap_standardised.gap)
         if report.race_gap_standardised
         else "n/a: no adult age band holds every group"],
        ["gap between gender groups (MAE)", years(report.gender_gap)],
    ])
    header = ["group", "n", "MAE (95% interval)", "mean error"]
    card.heading("Per age band")
    card.table(header, _group_rows(report.bands))
    card.heading("Per group (audit only: no model sees these labels)")
    card.table(header, _group_rows(report.genders))
    card.text(f"Race labels: adults ({ADULT_AGE} and over) only, as the race-gap figure "
              "above.")
    card.table(header, _group_rows(report.races_adult))
    standard = report.race_gap_standardised
    if standard is not None:
        card.heading("Race groups at one age mix (adults)")
        card.text(
            "Errors grow with age and the groups' photos differ in age, so the raw gap mixes "
            "the model with the sample. Here each group's MAE is taken per adult age band and "
            "weighted by one standard mix, all adults' shares of those bands ("
            + ", ".join(f"{b} {w:.0%}" for b, w in zip(standard.bands, standard.weights,
                                                        strict=True))
            + "), so every group is scored as if it had the same ages. Intervals resample "
            "images within each group and band. "
            + (f"{standard.left_out} adults in bands some group has no image in are left out. "
               if standard.left_out else "")
            + f"Largest gap: raw {years(report.race_gap_adult)} (95% interval "
            f"{standard.raw_gap_ci[0]:.2f} to {standard.raw_gap_ci[1]:.2f}), age-standardised "
            f"{years(standard.gap)} ({standard.gap_ci[0]:.2f} to {standard.gap_ci[1]:.2f}).")
        card.table(["group", "n", "MAE at the standard mix (95% interval)", "mean error"],
                   _group_rows(standard.groups))
    found = ~np.isnan(predictions.predicted)
    card.image("age_errors.png", age_errors(predictions.truth[found], predictions.predicted[found],
                                            report.model), "estimated against true age")
    card.heading("Limits")
    card.text(limits_for(report.data_kind))
    return card




def _points(value: float, ci: tuple[float, float]) -> str:
    """A difference of shares in percentage points, with its interval."""
    return f"{100 * value:+.1f} ({100 * ci[0]:+.1f} to {100 * ci[1]:+.1f})"


def _reference_text(report: DisparityReport) -> str:
    checked = json.loads(SCALE_FILE.read_text())["checked_on"]
    auc = checked["auc"]["smile score (both)"]
    return (
        f"So {report.reference_faces} of the {report.faces} faces also carry a smile reference "
        "measured without our expression model: mouth-corner geometry (the mouth's width and "
        "how far its corners sit above the lips' middle, in inter-ocular distances) from "
        "MediaPipe's face mesh, combined by a logistic score fitted on FERPlus train's happy "
        f"and neutral faces (it tells {checked['data']} apart with an AUC of {auc[0]:.3f}, "
        f"95% {auc[1]:.3f}-{auc[2]:.3f}: `python benchmarks/smile_reference.py`). The "
        "differences are given again at equal smile (within each fifth of the reference, "
        "weighted as all faces are; Rhue 2018 compared groups' anger scores at equal smile "
        "intensity the same way). A gap "
        "that stays at equal smile is the model reading equal smiles differently; one that "
        "goes is the photos smiling differently. Within limits: the geometry is itself a "
        "measurement, and a face shape that sets the mouth's corners differently at rest "
        "(or a group photographed at other angles) moves the reference too. ")


def disparity_card(report: DisparityReport, command: str) -> Card:
    card = Card(f"Expression disparity audit: {report.model} on {Path(report.data).name}",
                command)
    card.text(
        f"{report.faces} faces of people {report.min_age} and over from {report.data} "
        f"({report.malformed_names} malformed file names skipped, {report.missed_faces} images "
        f"without a face found left out), faces taken as {report.mode}; probabilities "
        f"calibrated (T={report.temperature:.2f}); a face's label is its top class, as analysis "
        "gives it before abstaining. Group labels come from the file names and are read by this "
        "evaluation only, after the model has run: no model sees them and no output of "
        "analysis or the service carries them. Race groups are the dataset's own coarse labels, "
        "used only to measure whether our model reads groups differently. "
        + training_overlap(report.seen_in_training, report.trained_on, report.faces))
    card.text(
        "Differences are from the largest group, in percentage points, with 95% bootstrap "
        "intervals; each group resampled on its own "
        + ("by person (all of a person's images together)." if report.resampled_by == "person"
           else "by image: the data does not say who is who, so a person with several photos "
           "counts as several, and the intervals are too narrow by as much as that happens.")
        + " Label shares per group carry Wilson intervals in report.json.")
    card.heading("What this can and cannot conclude")
    card.text(
        "The raw differences show whether the model's output differs between groups of these "
        "photos. They cannot say why: a gap may come from the model or from the photos "
        "themselves (who smiles in the pictures a dataset scraped). "
        + (_reference_text(report) if report.reference_faces else
           "No smile reference was measured here (--no-reference, or faces not taken as "
           "crops), so nothing separates the two. ")
        + "A gap here is a reason to check, not proof of bias; no gap here is no proof of "
        "fairness on other faces.")
    plots = []
    for g in report.groupings:
        card.heading(f"Per {g.name}: share of faces given each label")
        card.table(["group", "n", *EXPRESSIONS], [
            [s.name, str(s.n), *(pct(s.label_share[c]) for c in EXPRESSIONS)]
            for s in g.groups])
        card.text(f"Difference from {g.reference}, percentage points: label share, then mean "
                  "probability.")
        card.table(["group", "measure", *EXPRESSIONS], [
            row for d in g.differences for row in (
                [d.group, "label share", *(_points(d.label_share[c], d.label_share_ci[c])
                                           for c in EXPRESSIONS)],
                [d.group, "mean probability",
                 *(_points(d.mean_probability[c], d.mean_probability_ci[c])
                   for c in EXPRESSIONS)])])
        if report.reference_faces:
            card.text(f"At equal smile (the reference's fifths, weighted as all faces), "
                      f"difference from {g.reference}, percentage points; and the difference "
                      "in the smile reference itself (its score: above 0, more like FERPlus's "
                      "happy faces than its neutral ones). Groups with fewer than "
                      f"{MIN_REFERENCE_FACES} faces with a reference are not compared so.")
            card.table(["group", "measure", *EXPRESSIONS, "smile reference"], [
                row for d in g.differences
                if d.reference_difference is not None  # set with every equal-smile figure
                for row in (
                    [d.group, "label share at equal smile",
                     *(_points(d.equal_reference_label_share[c],
                               d.equal_reference_label_share_ci[c]) for c in EXPRESSIONS),
                     f"{d.reference_difference:+.2f} ({d.reference_difference_ci[0]:+.2f} to "
                     f"{d.reference_difference_ci[1]:+.2f})"],
                    [d.group, "mean probability at equal smile",
                     *(_points(d.equal_reference_mean_probability[c],
                               d.equal_reference_mean_probability_ci[c]) for c in EXPRESSIONS),
                     ""])])
        plots.append((g.name, [s.name for s in g.groups],
                      np.array([[s.label_share[c] for c in EXPRESSIONS] for s in g.groups])))
    card.image("label_shares.png", group_label_shares(plots, list(EXPRESSIONS)),
               "share of faces given each label, per group")
    card.heading("Limits")
    card.text(limits_for(report.data_kind))
    return card
