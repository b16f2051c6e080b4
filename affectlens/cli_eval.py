"""``affectlens eval``: measure the models on labelled data, calibrate them, write cards."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, cast, get_args

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from affectlens.config import AnalysisConfig
from affectlens.errors import AffectlensError, InputError
from affectlens.eval.age import ADULT_AGE, evaluate_ages, predict_ages
from affectlens.eval.calibration import (
    abstention_threshold,
    fit_temperature,
    negative_log_likelihood,
    require_enough_validation,
    target_reachable,
)
from affectlens.eval.card import (
    Card,
    age_card,
    disparity_card,
    expression_card,
    interval,
    pct,
    years,
)
from affectlens.eval.datasets import (
    DataKind,
    Seen,
    detect_kind,
    is_held_out,
    read_expression_folder,
    read_expressions,
    read_people,
    read_utkface,
)
from affectlens.eval.disparity import Grouping, audit, score_faces
from affectlens.eval.expression import evaluate_expressions, predict_expressions
from affectlens.eval.faces import FaceMode
from affectlens.eval.fall_datasets import LE2I_FILES, load_fall_datasets
from affectlens.eval.fall_lodo import leave_one_dataset_out, sensitivity, specificity
from affectlens.eval.falls import (
    MD4FD_FILE,
    Outcome,
    evaluate_md4fd,
    evaluate_urfd_videos,
    labelled_videos,
)
from affectlens.eval.metrics import expected_calibration_error, selective_accuracy
from affectlens.models.age import AGE_MODELS, AgeEstimator
from affectlens.models.calibration import DEFAULT_TARGET_ACCURACY, Calibration
from affectlens.models.expression import SPECS, ExpressionClassifier
from affectlens.models.runtime import Precision, is_int8
from affectlens.people import PeoplePipeline
from affectlens.types import EXPRESSIONS

eval_app = typer.Typer(
    help="Measure accuracy, calibration and per-group error on labelled data; write model cards.",
    no_args_is_help=True,
)
console = Console(stderr=True)
ExpressionModel = typer.Option(help=f"Expression model: {', '.join(SPECS)}.")
DEFAULT_PRECISION: str = AnalysisConfig.model_fields["precision"].default
PrecisionOption = typer.Option(
    help="int8: the model's int8 form where one ships (what analysis runs on the CPU by "
    "default); float: its float form.")
_MODE = ("crops: the images are face crops (resized to the model input). detect: run the face "
         "detector and alignment first, as in analysis; ")
ExpressionMode = typer.Option(
    "--mode", help=_MODE + "images without a face count as errors (in accuracy, F1, recall).")
AgeMode = typer.Option(
    "--mode", help=_MODE + "images without a face are left out of every error (there is no "
    "estimate to be wrong by), and counted and reported.")
Kind = typer.Option(
    "--data-kind", help="Which public dataset this is, for the card's Limits section. Default: "
    "told by the files' naming scheme (FER2013, FERPlus, CK+, UTKFace), else other.")
Out = typer.Option(help="Folder for report.json, card.md, card.html and the plots.")
Resamples = typer.Option(min=1, help="Bootstrap resamples for intervals.")


def _command() -> str:
    return "affectlens " + " ".join(shlex.quote(a) for a in sys.argv[1:])


@contextmanager
def _bar(description: str, total: int) -> Iterator:
    with _bars([(description, total)]) as (advance,):
        yield advance


@contextmanager
def _bars(steps: list[tuple[str, int]]) -> Iterator[list[Callable[[int], None]]]:
    """One progress display with a bar per step (description, total): rich shows one live
    display at a time."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=console) as bar:
        tasks = [bar.add_task(description, total=total) for description, total in steps]
        yield [lambda n, task=task: bar.advance(task, n) for task in tasks]


@contextmanager
def _clear_errors() -> Iterator[None]:
    logging.getLogger("affectlens").setLevel(logging.WARNING)
    try:
        yield
    except AffectlensError as error:
        console.print(f"[red]error:[/red] {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _load_expression_model(model: str, precision: str = "float") -> ExpressionClassifier:
    if model not in SPECS:
        raise typer.BadParameter(f"unknown model {model!r}; choose from {', '.join(SPECS)}")
    return ExpressionClassifier(model, precision=_precision(precision))


def _precision(precision: str) -> Precision:
    if precision not in get_args(Precision):
        raise typer.BadParameter(f"--precision must be {' or '.join(get_args(Precision))}")
    return cast(Precision, precision)


def _named(model: str, weights: Path) -> str:
    """The model's name as reports give it: with "(int8)" where its int8 form ran."""
    return f"{model} (int8)" if is_int8(weights) else model


@eval_app.command("expression")
def expression_command(
    data: Annotated[Path, typer.Option(
        help="Folder of <class>/<image> (FER2013 or CK+ layout), or a FERPlus folder: the PNGs "
        "with label.csv (10 annotators' votes) beside them.")],
    model: Annotated[str, ExpressionModel] = "fer",
    mode: Annotated[FaceMode, ExpressionMode] = FaceMode.crops,
    data_kind: Annotated[DataKind | None, Kind] = None,
    out: Annotated[Path, Out] = Path("affectlens-eval/expression"),
    resamples: Annotated[int, Resamples] = 1000,
    calibration: Annotated[Path | None, typer.Option(
        help="A calibration file (from eval calibrate --output) to judge instead of the one "
        "beside the model's weights.")] = None,
    precision: Annotated[str, PrecisionOption] = DEFAULT_PRECISION,
) -> None:
    """Accuracy, macro-F1, recall per class, confusion, calibration (ECE) and coverage.

    Class folders are mapped to affectlens's seven labels (anger->angry, sadness->sad, ...);
    a class the model lacks, such as CK+'s contempt, is reported and left out. A folder with a
    label.csv is read as FERPlus: accuracy and calibration against the majority label (ties,
    and contempt, unknown or not-a-face majorities left out and counted), and against the whole
    vote distribution: cross-entropy, and the share where the top prediction has at least 30%
    of the votes.

    Example: affectlens eval expression --data publictest/ --model fer --out eval/fer
    """
    with _clear_errors():
        _check_folder(out, "--out")
        if calibration is not None and not calibration.is_file():
            raise InputError(f"--calibration {calibration}: no such file")
        dataset = read_expressions(data)
        classifier = _load_expression_model(model, precision)
        fitted = Calibration.load(calibration) if calibration else classifier.calibration
        seen = _seen(classifier.name, classifier.model.path, dataset.paths)
        with _bar(f"{model} on {data.name}", len(dataset.paths)) as advance:
            predictions = predict_expressions(dataset, classifier, mode, advance)
        report = evaluate_expressions(
            predictions, fitted, model=_named(classifier.name, classifier.model.path),
            data=str(data),
            mode=mode.value, left_out=dataset.left_out, resamples=resamples,
            data_kind=data_kind or detect_kind(dataset.paths), seen=seen,
        )
    table = Table("measure", "value", "95% interval", title=f"{classifier.name} on {data}")
    table.add_row("images", str(report.images), "")
    if mode == FaceMode.detect:
        table.add_row("no face found (errors)", str(report.missed_faces), "")
    table.add_row("accuracy", pct(report.accuracy),
                  f"{pct(report.accuracy_ci[0])} to {pct(report.accuracy_ci[1])}")
    table.add_row("macro-F1", f"{report.macro_f1:.3f}",
                  f"{report.macro_f1_ci[0]:.3f} to {report.macro_f1_ci[1]:.3f}")
    table.add_row("ECE calibrated (before)", f"{report.ece:.3f} ({report.ece_uncalibrated:.3f})",
                  f"{report.ece_ci[0]:.3f} to {report.ece_ci[1]:.3f}")
    table.add_row(f"coverage at p >= {report.abstain_below:.2f}", pct(report.coverage), "")
    table.add_row("accuracy on covered", pct(report.covered_accuracy), "")
    for name, recall in report.recall.items():
        table.add_row(f"recall {name}", pct(recall), "")
    if report.votes is not None:
        v = report.votes
        table.add_row(f"top prediction has >= {v.threshold:.0%} of votes ({v.images} images)",
                      pct(v.plausible_share), interval(v.plausible_ci))
        table.add_row(f"cross-entropy vs votes, nats (floor {v.vote_entropy:.3f})",
                      f"{v.cross_entropy:.3f}", interval(v.cross_entropy_ci, percent=False))
    console.print(table)
    for name, n in report.left_out.items():
        console.print(f"left out: {name!r} ({n} images)" if report.votes is not None else
                      f"left out: class {name!r} ({n} images), not predicted by this model")
    _unreadable(predictions.unreadable)
    _write(expression_card(report, _command()), asdict(report), out)


@eval_app.command("age")
def age_command(
    data: Annotated[Path, typer.Option(help="Folder of UTKFace images <age>_<gender>_<race>_...")],
    model: Annotated[str, typer.Option(help=f"Age model: {', '.join(AGE_MODELS)}.")] = "age_v1",
    mode: Annotated[FaceMode, AgeMode] = FaceMode.crops,
    data_kind: Annotated[DataKind | None, Kind] = None,
    split: Annotated[
        str, typer.Option(help="all, or test: the fifth of the files held out from fitting.")
    ] = "all",
    out: Annotated[Path, Out] = Path("affectlens-eval/age"),
    resamples: Annotated[int, Resamples] = 1000,
    precision: Annotated[str, PrecisionOption] = DEFAULT_PRECISION,
) -> None:
    """Age error (MAE) overall, per age band, and per gender and race label (audit only).

    Also the largest gap between groups. Malformed file names are counted and skipped.

    Example: affectlens eval age --data utkface/ --split test --out eval/age
    """
    if split not in ("all", "test"):
        raise typer.BadParameter("--split must be all or test")
    if model not in AGE_MODELS:
        raise typer.BadParameter(f"unknown model {model!r}; choose from {', '.join(AGE_MODELS)}")
    with _clear_errors():
        _check_folder(out, "--out")
        dataset = read_utkface(data)
        if split == "test":
            named = len(dataset.paths)
            dataset = dataset.subset([is_held_out(p, 5) for p in dataset.paths])
            if not dataset.paths:
                raise InputError(f"{data}: none of its {named} well-named images is in the test "
                                 "fifth (chosen by a hash of the file name); use --split all")
        estimator = AgeEstimator(model, precision=_precision(precision))
        seen = _seen(model, estimator.model.path, dataset.paths)
        with _bar(f"{model} on {data.name}", len(dataset.paths)) as advance:
            predictions = predict_ages(dataset, estimator, mode, advance)
        report = evaluate_ages(predictions, model=_named(model, estimator.model.path),
                               data=str(data), mode=mode.value,
                               malformed=len(dataset.malformed), resamples=resamples,
                               data_kind=data_kind or detect_kind(dataset.paths), seen=seen)
    table = Table("group", "n", "MAE", "mean error", title=f"{model} on {data} ({split})")
    if report.missed_faces:
        table.add_row("no face found (left out)", str(report.missed_faces), "", "")
    table.add_row("all", str(report.images - report.missed_faces), f"{report.mae:.2f}",
                  f"{report.mean_error:+.2f}")
    for title, groups in (("age band", report.bands), ("gender", report.genders),
                          ("race (adults)", report.races_adult)):
        for g in groups:
            table.add_row(f"{title} {g.name}", str(g.n), f"{g.mae:.2f}", f"{g.mean_error:+.2f}")
    console.print(table)
    standard = report.race_gap_standardised
    console.print(f"MAE at 60+: {years(report.mae_60_plus)}; largest race-group gap (adults): "
                  f"{years(report.race_gap_adult)}"
                  + (f", age-standardised {years(standard.gap)} ({standard.gap_ci[0]:.2f} to "
                     f"{standard.gap_ci[1]:.2f})" if standard else "")
                  + f"; gender gap: {years(report.gender_gap)}")
    if dataset.malformed:
        console.print(f"skipped {len(dataset.malformed)} malformed file names, e.g. "
                      f"{dataset.malformed[0]}", highlight=False)
    _unreadable(predictions.unreadable)
    _write(age_card(report, predictions, _command()), asdict(report), out)


@eval_app.command("disparity")
def disparity_command(
    data: Annotated[Path, typer.Option(
        help="Folder of faces named <age>_<gender>_<race>_<date>.jpg (UTKFace's scheme).")],
    model: Annotated[str, ExpressionModel] = "affectlens",
    mode: Annotated[FaceMode, typer.Option(
        "--mode", help=_MODE + "images without a face are left out and counted.")
    ] = FaceMode.crops,
    min_age: Annotated[int, typer.Option(
        min=0, help="Only faces of this age and over (adults by default).")] = ADULT_AGE,
    people: Annotated[Path | None, typer.Option(
        help="A CSV of 'file name,person id' lines, where the data says who is who: intervals "
        "then resample people, not images.")] = None,
    data_kind: Annotated[DataKind | None, Kind] = None,
    out: Annotated[Path, Out] = Path("affectlens-eval/disparity"),
    resamples: Annotated[int, Resamples] = 1000,
    reference: Annotated[bool, typer.Option(
        help="Also compare groups at equal smile, by a reference measured without our "
        "expression model (mouth-corner geometry from MediaPipe's face mesh; --mode crops "
        "only).")] = True,
) -> None:
    """Does the expression model read groups of people differently? No expression labels needed.

    Per gender, race group (the data's own labels, as a measurement of our model only) and age
    band: the mean calibrated probability and the share of faces given each label, and each
    group's difference from the largest group with 95% bootstrap intervals, resampled by person
    with --people, else by image (UTKFace does not say who is who). The group labels are read
    from the file names by this evaluation only, after the model has run. It cannot say whether
    the model or the photos differ; so each face also gets a smile reference measured without
    our model, and the differences are given again at equal smile (--no-reference: not).

    Example: affectlens eval disparity --data utkface/ --out eval/disparity
    """
    with _clear_errors():
        _check_folder(out, "--out")
        dataset = read_utkface(data)
        who = None if people is None else read_people(people, dataset.paths)
        classifier = _load_expression_model(model)
        seen = _seen(classifier.name, classifier.model.path, dataset.paths)
        measure = reference and mode == FaceMode.crops
        if reference and not measure:
            console.print("[yellow]note:[/yellow] the smile reference is measured on face "
                          "crops only: --mode detect compares groups without it")
        steps = [(f"{model} on {data.name}", len(dataset.paths))]
        if measure:
            steps.append(("smile reference", len(dataset.paths)))
        with _bars(steps) as (advance, *measured):
            scores = score_faces(dataset, classifier, classifier.calibration, mode, advance,
                                 people=who, reference=measure,
                                 reference_progress=measured[0] if measured else None)
        report = audit(scores, model=classifier.name, data=str(data), mode=mode.value,
                       min_age=min_age, malformed=len(dataset.malformed),
                       temperature=classifier.calibration.temperature, resamples=resamples,
                       data_kind=data_kind or detect_kind(dataset.paths), seen=seen)
    for g in report.groupings:
        table = Table("group", "n", *(c for c in EXPRESSIONS),
                      title=f"{classifier.name}: share of faces given each label, by {g.name}")
        for s in g.groups:
            table.add_row(s.name, str(s.n), *(pct(s.label_share[c]) for c in EXPRESSIONS))
        console.print(table)
        if report.reference_faces:
            _print_equal_smile(g)
    _unreadable(scores.unreadable)
    _write(disparity_card(report, _command()), asdict(report), out)


def _print_equal_smile(g: Grouping) -> None:
    """Happy and neutral: each group's difference from the largest, raw and at equal smile."""
    table = Table("group", "happy, raw", "happy, at equal smile", "neutral, raw",
                  "neutral, at equal smile",
                  title=f"difference from {g.reference} in points, by {g.name} "
                        "(95% intervals in the card)")
    for d in g.differences:
        equal = d.equal_reference_label_share or {}
        table.add_row(d.group, *(f"{100 * v:+.1f}" if v is not None else "-" for v in (
            d.label_share["happy"], equal.get("happy"), d.label_share["neutral"],
            equal.get("neutral"))))
    console.print(table)


@eval_app.command("calibrate")
def calibrate_command(
    data: Annotated[
        Path, typer.Option(help="FER2013 train/ folder; its validation tenth is used.")
    ],
    model: Annotated[str, ExpressionModel] = "fer",
    target_accuracy: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Accuracy the labelled (not 'uncertain') faces must reach.")
    ] = DEFAULT_TARGET_ACCURACY,
    output: Annotated[
        Path | None, typer.Option(help="Where to write it. Default: beside the model's weights.")
    ] = None,
) -> None:
    """Fit temperature scaling and the abstention threshold on validation data; save them.

    The data is the validation tenth of a training folder, the split that
    training/train_expression.py holds out.

    Never run this on a test set: the figures it would then report mean nothing.
    """
    with _clear_errors():
        if output is not None:
            _check_file(output, "--output")
        dataset = read_expression_folder(data)
        named = len(dataset.paths)
        dataset = dataset.subset([is_held_out(p) for p in dataset.paths])
        if not dataset.paths:
            raise InputError(f"{data}: none of its {named} images is in the validation tenth "
                             "(chosen by a hash of the file name); give a whole training folder")
        classifier = _load_expression_model(model)
        with _bar(f"{model}: validation split", len(dataset.paths)) as advance:
            predictions = predict_expressions(dataset, classifier, FaceMode.crops, advance)
        _unreadable(predictions.unreadable)
        logits, truth = predictions.logits, predictions.truth
        require_enough_validation(truth, str(data))
        temperature = fit_temperature(logits, truth)
        probs = Calibration(temperature).probabilities(logits)
        if not target_reachable(probs, truth, target_accuracy):
            right = float((probs.argmax(1) == truth).mean())
            raise InputError(
                f"{data}: no confidence threshold makes its {len(truth)} validation images "
                f"{pct(target_accuracy)} right ({pct(right)} overall, every face would be "
                "'uncertain'); lower --target-accuracy"
            )
        threshold = abstention_threshold(probs, truth, target_accuracy)
        coverage = selective_accuracy(probs, truth, threshold)[0]
        calibration = Calibration(
            temperature, threshold, target_accuracy,
            fitted_on=f"{len(truth)} validation images of {data.name} (affectlens eval calibrate)",
        )
        path = output or classifier.calibration_path
        replaced = Calibration.load(path) if path.is_file() else None
        try:
            calibration.save(path)
        except OSError as error:
            raise InputError(f"{path}: cannot write the calibration ({error.strerror})") from None
    before = Calibration().probabilities(logits)
    console.print(
        f"temperature {temperature:.3f}: validation NLL "
        f"{negative_log_likelihood(logits, truth, 1.0):.4f} -> "
        f"{negative_log_likelihood(logits, truth, temperature):.4f}, ECE "
        f"{expected_calibration_error(before, truth):.4f} -> "
        f"{expected_calibration_error(probs, truth):.4f}\n"
        f"abstain below {threshold:.3f} (labelled faces at least {pct(target_accuracy)} right, "
        f"{pct(coverage)} of the validation faces labelled)\n"
        f"wrote {path}", highlight=False,
    )
    if replaced is not None:
        console.print(f"it replaced temperature {replaced.temperature:.3f}, abstain below "
                      f"{replaced.abstain_below:.3f} ({replaced.fitted_on}); --output writes "
                      "elsewhere", highlight=False)


@eval_app.command("falls")
def falls_command(
    data: Annotated[Path, typer.Option(
        help="MD4FD JSON file, or a folder with URFD_normalized.json and/or URFD's "
        "urfall-*.csv labels beside <sequence>-cam0.mp4 videos.")],
    cv: Annotated[bool, typer.Option(
        "--cv/--shipped",
        help="MD4FD: cross-validate by recording (fair on the training data) or judge with the "
        "shipped classifier (fair on data it never saw).")] = False,
    folds: Annotated[int, typer.Option(min=2, help="Cross-validation folds.")] = 5,
    resamples: Annotated[int, Resamples] = 1000,
    out: Annotated[Path | None, typer.Option(help="Also write the figures as JSON here.")] = None,
    frame_size: Annotated[str, typer.Option(
        help="MD4FD: the recordings' frame size WxH (coordinates are fractions of it).")
    ] = "640x480",
    fps: Annotated[float, typer.Option(min=1, help="MD4FD: the recordings' frame rate.")] = 30.0,
    leave_one_dataset_out: Annotated[bool, typer.Option(
        "--leave-one-dataset-out",
        help="The headline for unseen rooms: --data is a folder laid out as "
        "shared/data/falls (URFD_normalized.json, le2i/, upfall-skeletons/); each dataset is "
        "scored by a classifier fitted on the others only, per recording and per window, "
        "with exact 95% intervals.")] = False,
) -> None:
    """Sequence-level sensitivity, specificity, F1 and confusion of the fall rule, with 95%
    bootstrap intervals; or each dataset left out in turn (--leave-one-dataset-out).

    Examples: affectlens eval falls --data ../shared/data/falls --cv;
    affectlens eval falls --data ../shared/data/falls --leave-one-dataset-out
    """
    if leave_one_dataset_out:
        _falls_lodo(data, out)
        return
    try:
        width, height = (float(v) for v in frame_size.lower().split("x"))
        if not (width > 0 and height > 0):
            raise ValueError
    except ValueError:
        raise typer.BadParameter(
            f"--frame-size must be WxH in pixels, e.g. 640x480, not {frame_size!r}") from None
    figures: dict[str, dict] = {}
    with _clear_errors():
        md4fd = data if data.is_file() else data / MD4FD_FILE
        if md4fd.is_file():
            if not cv and md4fd.name in (MD4FD_FILE, *(Path(f).name for f in LE2I_FILES)):
                console.print("[yellow]warning:[/yellow] the shipped classifier was trained on "
                              f"{md4fd.name}; only --cv (or --leave-one-dataset-out) gives a "
                              "fair figure on it")
            result = evaluate_md4fd(md4fd, cv, folds, (width, height), fps)
            how = "cross-validated by recording" if cv else "shipped classifier"
            figures["md4fd_rule"] = _falls_table(
                f"{md4fd.name}: full rule per sequence ({how})", result.rule, resamples)
            figures["md4fd_recordings"] = _falls_table(
                f"{md4fd.name}: full rule per recording, windows stitched ({how})",
                result.recordings, resamples)
            figures["md4fd_classifier"] = _falls_table(
                f"{md4fd.name}: classifier on whole sequences ({how})", result.classifier,
                resamples)
        if data.is_dir() and labelled_videos(data):
            outcome, timed = evaluate_urfd_videos(data, PeoplePipeline())
            figures["urfd_videos"] = _falls_table("URFD videos (pose, tracks, rule)", outcome,
                                                  resamples)
            for t in timed:
                console.print(f"{t.name}: fall event at {_s(t.fall_s)}; labelled falling from "
                              f"{_s(t.falling_from_s)}, lying from {_s(t.lying_from_s)}",
                              highlight=False)
        if not figures:
            raise InputError(f"{data}: no {MD4FD_FILE} and no URFD CSV with its video found")
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(figures, indent=2))
        console.print(f"wrote {out}", highlight=False)


def _seen(model: str, weights: Path, paths: list[Path]) -> Seen | None:
    """Warn where the model was trained on some of these images, by its training manifest
    (not by the folder's name: a folder called utkface may hold images it never saw)."""
    seen = Seen.check(weights, paths)
    if seen is not None and seen.images:
        console.print(f"[yellow]warning:[/yellow] the {model} model was trained on {seen.images} "
                      f"of these {len(paths)} images ({seen.trained_on}), so its figures on them "
                      "flatter it; score data it never saw (UTKFace: --split test)",
                      highlight=False, soft_wrap=True)
    return seen


def _falls_lodo(data: Path, out: Path | None) -> None:
    with _clear_errors():
        if not data.is_dir():
            raise InputError(f"--data {data}: give the folder holding URFD_normalized.json, "
                             "le2i/ and upfall-skeletons/")
        datasets = load_fall_datasets(data)
        results = leave_one_dataset_out(
            datasets, progress=lambda text: console.print(text, highlight=False))
    table = Table("left out", "trained on", "recordings: sensitivity", "specificity",
                  "windows: sensitivity", "specificity",
                  title="Falls, each dataset left out (exact 95% intervals)")
    for r in results:
        name = r.dataset + (f"\n{r.note}" if r.note else "")
        table.add_row(name, ", ".join(r.trained_on), str(sensitivity(r.recordings)),
                      str(specificity(r.recordings)), str(sensitivity(r.windows)),
                      str(specificity(r.windows)))
    console.print(table)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps([r.as_dict() for r in results], indent=2))
        console.print(f"wrote {out}", highlight=False)


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _falls_table(title: str, outcome: Outcome, resamples: int) -> dict:
    figures = outcome.figures(resamples)
    table = Table("measure", "value", "95% interval", title=title)
    for name, (value, low, high) in figures.items():
        table.add_row(name, f"{value:.3f}", f"{low:.3f}-{high:.3f}")
    c = outcome.confusion
    table.add_row("confusion", f"TP {c['tp']} FN {c['fn']}", f"FP {c['fp']} TN {c['tn']}")
    console.print(table)
    return {"confusion": c, **{k: list(v) for k, v in figures.items()}}


def _unreadable(paths: list[Path]) -> None:
    if paths:
        console.print(f"[yellow]skipped {len(paths)} files that are not readable images[/yellow]"
                      f", e.g. {paths[0]}", highlight=False, soft_wrap=True)


def _check_folder(out: Path, option: str) -> None:
    """Fail before the evaluation, not after minutes of it, where the results cannot go."""
    if out.exists() and not out.is_dir():
        raise InputError(f"{option} {out}: a file is there; give a folder for the results")
    _check_parent(out, option)


def _check_file(path: Path, option: str) -> None:
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name, such as "
                         "fer.calibration.json")
    _check_parent(path, option)


def _check_parent(path: Path, option: str) -> None:
    existing = path.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{option} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise InputError(f"{option} {path}: {existing} is not writable")


def _write(card: Card, figures: dict, out: Path) -> None:
    with _clear_errors():
        try:
            written = card.write(out, figures)
        except OSError as error:
            raise InputError(f"--out {out}: cannot write the results ({error.strerror})") from None
    for path in written:
        console.print(f"wrote {path}", highlight=False)


# Last: affectlens.cli_eval_voice uses this module's helpers (issue 20).
from affectlens.cli_eval_voice import voice_command  # noqa: E402

eval_app.command("voice")(voice_command)
