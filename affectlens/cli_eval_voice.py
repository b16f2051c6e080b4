"""``affectlens eval voice``: the vocal expression model on a labelled folder of speech.

Registered on ``eval_app`` by affectlens/cli_eval.py; it writes the same report.json, card.md,
card.html and plots as ``eval expression``.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from affectlens.cli_eval import (
    Out,
    Resamples,
    _bar,
    _check_folder,
    _clear_errors,
    _command,
    _write,
    console,
)
from affectlens.errors import InputError
from affectlens.eval.card import pct
from affectlens.eval.voice import evaluate_voice, predict_voice, read_voice_folder, voice_card
from affectlens.models.calibration import Calibration
from affectlens.voice.engine import VoiceAnalyser
from affectlens.voice.settings import VoiceSettings


def voice_command(
    data: Annotated[Path, typer.Option(
        help="Folder of speech: RAVDESS file names (03-01-05-01-01-01-12.wav) or "
        "<class>/<file> folders (.wav .flac .mp3 .m4a .ogg).")],
    out: Annotated[Path, Out] = Path("affectlens-eval/voice"),
    resamples: Annotated[int, Resamples] = 1000,
    calibration: Annotated[Path | None, typer.Option(
        help="A calibration file to judge instead of the one beside the model's weights.")
    ] = None,
) -> None:
    """Accuracy, macro-F1, recall per class, confusion, calibration (ECE), coverage, arousal
    and valence accuracy, per group where the file names say it (RAVDESS).

    Each file is analysed as `affectlens analyze` does (VAD, 1-4 s windows), one answer per
    file. Folder names are mapped (fearful->fear, surprised->surprise); a class the model lacks
    is reported and left out.

    Example: affectlens eval voice --data ravdess/ --out eval/voice
    """
    with _clear_errors():
        _check_folder(out, "--out")
        if calibration is not None and not calibration.is_file():
            raise InputError(f"--calibration {calibration}: no such file")
        dataset = read_voice_folder(data)
        analyser = VoiceAnalyser(VoiceSettings())
        fitted = Calibration.load(calibration) if calibration else analyser.classifier.calibration
        if all(s is not None for s in dataset.speakers):
            console.print("[yellow]warning:[/yellow] RAVDESS names: the shipped voice model was "
                          "trained on 20 of its 24 actors and calibrated on the other 4; the fair "
                          "figures are python benchmarks/voice.py's cross-validation by actor")
        with _bar(f"voice on {data.name}", len(dataset.paths)) as advance:
            predictions = predict_voice(dataset, analyser, advance)
        report = evaluate_voice(predictions, fitted, model=analyser.classifier.name,
                                data=str(data), left_out=dataset.left_out, resamples=resamples)
    table = Table("measure", "value", "95% interval",
                  title=f"{analyser.classifier.name} on {data}")
    table.add_row("files", str(report.files), "")
    table.add_row("no speech found (errors)", str(report.no_speech), "")
    table.add_row("accuracy", pct(report.accuracy),
                  f"{pct(report.accuracy_ci[0])} to {pct(report.accuracy_ci[1])}")
    table.add_row("macro-F1", f"{report.macro_f1:.3f}",
                  f"{report.macro_f1_ci[0]:.3f} to {report.macro_f1_ci[1]:.3f}")
    table.add_row("ECE calibrated (before)", f"{report.ece:.3f} ({report.ece_uncalibrated:.3f})",
                  f"{report.ece_ci[0]:.3f} to {report.ece_ci[1]:.3f}")
    table.add_row(f"coverage at p >= {report.abstain_below:.2f}", pct(report.coverage), "")
    table.add_row("accuracy on covered", pct(report.covered_accuracy), "")
    table.add_row("arousal accuracy", pct(report.arousal_accuracy), "")
    table.add_row("valence accuracy", pct(report.valence_accuracy), "")
    for group in report.groups:
        table.add_row(f"{group.name}: accuracy / macro-F1", pct(group.accuracy),
                      f"{group.macro_f1:.3f}")
    console.print(table)
    for name, n in report.left_out.items():
        console.print(f"left out: class {name!r} ({n} files), not predicted by this model")
    if predictions.unreadable:
        console.print(f"[yellow]skipped {len(predictions.unreadable)} files that are not "
                      f"readable audio[/yellow], e.g. {predictions.unreadable[0]}",
                      highlight=False, soft_wrap=True)
    _write(voice_card(report, _command()), asdict(report), out)
