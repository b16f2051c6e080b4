"""``affectlens analyze`` and ``affectlens demo-report``: offline analysis from the command line.

Its own module so that only these commands load the analysis stack (pandas, ONNX Runtime,
OpenCV): affectlens/cli.py imports it when one of them runs or its help is asked for.
"""

from __future__ import annotations

import json
import os
import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated, get_args

import pandas as pd
import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from affectlens.analysis import analyze
from affectlens.cli import _fail, console
from affectlens.cluster.segments import SegmentSettings
from affectlens.config import AnalysisConfig
from affectlens.errors import AffectlensError
from affectlens.models.age import AGE_MODELS
from affectlens.models.expression import SPECS
from affectlens.models.pose_landmarks import PoseLandmarksName
from affectlens.models.runtime import Precision
from affectlens.pipeline import Pipeline
from affectlens.report.annotated_video import AnnotatedVideoWriter
from affectlens.report.html import write_report
from affectlens.result import Result
from affectlens.samples import write_sample_video
from affectlens.service.site import check_cluster_address
from affectlens.types import plural

commands = typer.Typer()
CHECKPOINT = ".cluster-parts"  # under --out: tasks a --cluster or --jobs job finished, till it ends


class TableFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"


class DeviceChoice(StrEnum):
    cpu = "cpu"
    cuda = "cuda"
    auto = "auto"


ExpressionModelChoice = StrEnum("ExpressionModelChoice", {name: name for name in SPECS})
AgeModelChoice = StrEnum("AgeModelChoice", {name: name for name in AGE_MODELS})
PrecisionChoice = StrEnum("PrecisionChoice", {name: name for name in get_args(Precision)})
PoseLandmarksChoice = StrEnum("PoseLandmarksChoice",
                              {name: name for name in get_args(PoseLandmarksName)})
_DEFAULTS = AnalysisConfig()
DEFAULT_EXPRESSION_MODEL = ExpressionModelChoice(_DEFAULTS.expression_model)
DEFAULT_AGE_MODEL = AgeModelChoice(_DEFAULTS.age_model)
DEFAULT_POSE_LANDMARKS = PoseLandmarksChoice(_DEFAULTS.pose_landmarks)
DEFAULT_PRECISION = PrecisionChoice(_DEFAULTS.precision)


@commands.command("analyze")
def analyze_command(
    inputs: Annotated[
        list[Path],
        typer.Argument(help="Video files, images, or folders of them (searched recursively)."),
    ],
    out: Annotated[Path, typer.Option(help="Folder for the tables, report and videos.")] = Path(
        "affectlens-out"
    ),
    fps: Annotated[
        float | None,
        typer.Option(help="Frames analysed per second of video. Default: every frame."),
    ] = None,
    device: Annotated[DeviceChoice, typer.Option(help="Where models run.")] = DeviceChoice.cpu,
    precision: Annotated[
        PrecisionChoice,
        typer.Option(help="int8: on the CPU, the expression and age models' int8 form (about "
                     "a third of the CPU a face; the same label on about 99% of faces: "
                     "docs/accuracy.md); float: their float form, the reference."),
    ] = DEFAULT_PRECISION,
    table_format: Annotated[
        TableFormat, typer.Option("--format", help="Per-frame/per-track table format.")
    ] = TableFormat.csv,
    min_face: Annotated[
        float, typer.Option(help="Smallest face width to look for, pixels. Larger is faster.")
    ] = 24,
    video: Annotated[
        bool, typer.Option(help="Also write an annotated copy of each video (faces blurred).")
    ] = False,
    blur: Annotated[
        bool,
        typer.Option(
            "--blur/--no-blur",
            help="Blur faces in annotated videos. --no-blur must be explicit and is printed "
            "in the report and on every frame.",
        ),
    ] = True,
    report: Annotated[bool, typer.Option(help="Write the HTML report.")] = True,
    expression_model: Annotated[
        ExpressionModelChoice,
        typer.Option(help="Expression model; docs/accuracy.md compares them."),
    ] = DEFAULT_EXPRESSION_MODEL,
    age_model: Annotated[
        AgeModelChoice, typer.Option(help="Age model; see docs/accuracy.md.")
    ] = DEFAULT_AGE_MODEL,
    purpose: Annotated[
        str,
        typer.Option(
            help="Why the recordings are analysed: care_safety or consented_research "
            "(expression, age and falls per person; the default, consented_research, is the "
            "usual case for recorded research sessions), or anonymous_statistics (no "
            "expression or pose model; only counts of faces and people and age bands per "
            "input, over at least --min-group people). Monitoring staff, pupils or "
            "workers, identity and sensitive categories are refused.",
        ),
    ] = _DEFAULTS.purpose,
    min_group: Annotated[
        int,
        typer.Option(help="anonymous_statistics: fewest people (k) an input's counts may "
                     "describe; below it they are suppressed."),
    ] = _DEFAULTS.min_group,
    every: Annotated[
        float | None,
        typer.Option("--every", help="anonymous_statistics: one row of counts per this many "
                     "seconds of video, each over at least --min-group people. Default: one "
                     "row per file."),
    ] = None,
    pose: Annotated[
        bool,
        typer.Option("--pose/--no-pose", help="Body pose, person tracks and falls "
                     "(persons.csv; fall events in events.csv; videos only). --no-pose: "
                     "faces only (events.csv keeps distress), about 20 ms a frame faster."),
    ] = _DEFAULTS.pose,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", metavar="ADDRESS", help="Spread the inputs over the Ray "
                     "cluster at ADDRESS (the head node's host:port, or auto), one task per "
                     "file; the same files are written as on one machine. The inputs must be "
                     "at the same path on every node. Needs affectlens[cluster] "
                     "(docs/cluster.md)."),
    ] = None,
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", min=0, help="Analyse in this many processes of this "
                     "machine, one task per file (long videos in segments, as --cluster "
                     "splits them), each model on one thread: about this many cores. The "
                     "same files are written as by one process. 1: one process; 0: one a "
                     "core this process may use."),
    ] = 1,
    segment_s: Annotated[
        float,
        typer.Option("--segment-s", help="With --cluster or --jobs: videos longer than this "
                     "many seconds are split into segments, a task each, stitched back into "
                     "one pass (docs/cluster.md); 0: one task a file."),
    ] = SegmentSettings().segment_s,
    pose_landmarks: Annotated[
        PoseLandmarksChoice,
        typer.Option(help="Who places the body joints: none, MoveNet alone; mediapipe, "
                     "MediaPipe's pose landmarks on each person MoveNet finds (docs/falls.md)."),
    ] = DEFAULT_POSE_LANDMARKS,
    full_scan_every: Annotated[
        float,
        typer.Option("--full-scan-every", metavar="SECONDS",
                     help="Video: search the whole frame for faces this often, in between "
                     "only where the picture changed or a face was, and with pose run the "
                     "pose model this often and on frames that changed (docs/speed.md); 0: "
                     "the whole frame every frame (the reference: slower, finds a still face "
                     "entering view at once)."),
    ] = _DEFAULTS.full_scan_every_s or 0.0,
    motion_search_every: Annotated[
        float,
        typer.Option("--motion-search-every", metavar="SECONDS",
                     help="Video, between whole-frame searches: search a part of the frame "
                     "where the picture changed at most this often (a face coming into view "
                     "is found up to this much later; a face already found is searched for "
                     "on every frame); 0: on every frame it changes (docs/speed.md)."),
    ] = _DEFAULTS.motion_search_every_s,
    still_tiles_every: Annotated[
        float,
        typer.Option("--still-tiles-every", metavar="SECONDS",
                     help="Video: the periodic whole-frame search leaves out parts of the "
                     "frame that have not changed since they were last searched, and "
                     "searches them too this often (docs/speed.md); 0: every part on every "
                     "periodic search."),
    ] = _DEFAULTS.still_tiles_every_s or 0.0,
) -> None:
    """Analyse recorded video and images: per-frame and per-track tables, a JSON summary and
    an HTML report.

    Examples:

      affectlens analyze session.mp4

      affectlens analyze recordings/ --fps 5 --format parquet --out results/

      affectlens analyze recordings/ --jobs 2    # two processes: about two cores

      affectlens analyze clip.mov --video        # plus videos/clip.annotated.mp4, blurred

      affectlens analyze lobby/ --purpose anonymous_statistics --min-group 10

    Exit status: 0 when at least one input was analysed, 1 when none could be, 2 for a
    wrong or refused option (the message says why).
    """
    try:
        config = AnalysisConfig(
            fps=fps, device=device.value, precision=precision.value, min_face_px=min_face,
            expression_model=expression_model.value, age_model=age_model.value,
            purpose=purpose, min_group=min_group, statistics_every_s=every, pose=pose,
            pose_landmarks=pose_landmarks.value,
            full_scan_every_s=full_scan_every if full_scan_every != 0 else None,
            motion_search_every_s=motion_search_every,
            still_tiles_every_s=still_tiles_every if still_tiles_every != 0 else None,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field, message = first["loc"][0], str(first["msg"]).removeprefix("Value error, ")
        # The purpose check names the field itself ("purpose: refused: ..."): say it once.
        if not message.startswith(f"{field}: "):
            message = f"{field}: {message}"
        _fail(f"invalid option: {message}")
    if video and not config.expression_allowed:
        _fail("--video: purpose anonymous_statistics writes aggregate counts only, never "
              "pictures of single people; leave out --video or choose another purpose")
    if cluster is not None:
        try:
            check_cluster_address(cluster)
        except ValueError as exc:
            _fail(f"--cluster: {exc}")
        if jobs != 1:
            _fail("--jobs: a --cluster job runs as many tasks at once as the cluster has "
                  "room for; leave out --jobs, or --cluster to use this machine's cores")
    try:
        segments = SegmentSettings(segment_s=segment_s)
    except ValidationError as exc:
        _fail(f"--segment-s: {exc.errors()[0]['msg']}")
    if jobs == 0:  # the cores this process may run on
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    _run(inputs, config, out, table_format, video, blur, report, cluster,
         segments.segment_s, jobs)  # exits 1: none read


@commands.command("demo-report")
def demo_report(
    out: Annotated[Path, typer.Option(help="Folder for the sample and its results.")] = Path(
        "affectlens-demo"
    ),
) -> None:
    """Analyse the built-in sample video (two faces from a public-domain portrait) offline and
    write its report. Needs no data and no network."""
    sample = write_sample_video(out / "sample.mp4")
    console.print(f"sample video: {sample}")
    _run([sample], AnalysisConfig(), out, TableFormat.csv, video=True, blur=True, report=True)


def _run(
    inputs: list[Path], config: AnalysisConfig, out: Path, table_format: TableFormat,
    video: bool, blur: bool, report: bool, cluster: str | None = None,
    segment_s: float = 0.0, jobs: int = 1,
) -> Result:
    writer = AnnotatedVideoWriter(out / "videos", blur=blur) if video else None
    if cluster is not None or jobs > 1:
        result = _spread(inputs, config, cluster, jobs, out / CHECKPOINT, segment_s, writer)
    else:
        result = _here(inputs, config, writer)
    _check_read(result, out)
    _write_outputs(result, out, table_format, writer, blur, report)
    shutil.rmtree(out / CHECKPOINT, ignore_errors=True)  # the job is done: nothing to resume
    return result


def _here(inputs: list[Path], config: AnalysisConfig, writer: AnnotatedVideoWriter | None
          ) -> Result:
    """On this machine, a progress bar per input."""
    try:
        pipeline = Pipeline(config)
    except AffectlensError as exc:
        _fail(str(exc))
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=console, transient=False,
    ) as bar:
        tasks: dict[Path, int] = {}

        def progress(path: Path, done: int, total: int | None) -> None:
            if path not in tasks:
                tasks[path] = bar.add_task(path.name[:40], total=total)
            bar.update(tasks[path], completed=done, total=max(total or done, done))

        return analyze(
            inputs, pipeline=pipeline, observers=[writer] if writer else [], progress=progress,
        )


def _spread(inputs: list[Path], config: AnalysisConfig, address: str | None, jobs: int,
            checkpoint: Path, segment_s: float, writer: AnnotatedVideoWriter | None) -> Result:
    """On a Ray cluster (``address``), else in ``jobs`` processes here: one progress bar for
    the whole job, in tasks finished. Finished tasks are kept in ``checkpoint`` until the
    outputs are written: run again after an interruption, the job does not redo them."""
    from affectlens.cluster.offline import analyze_in_processes, analyze_on_cluster

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=console, transient=False,
    ) as bar:
        where = f"tasks on {address}" if address is not None else f"tasks in {jobs} processes"
        job = bar.add_task(where[:40], total=None)

        def done(finished: int, total: int) -> None:
            bar.update(job, completed=finished, total=total)

        try:
            if address is not None:
                return analyze_on_cluster(inputs, config, address, done, checkpoint,
                                          segment_s, writer)
            return analyze_in_processes(inputs, config, jobs, done, checkpoint, segment_s,
                                        writer)
        except AffectlensError as exc:
            _fail(str(exc))


def _check_read(result: Result, out: Path) -> None:
    for row in result.sources[result.sources.status != "ok"].itertuples():
        colour = "red" if row.status == "error" else "yellow"
        console.print(f"[{colour}]{row.status}:[/{colour}] {row.message}", highlight=False)
    if (result.sources.status == "error").all():
        # Nothing to show: empty tables and a report would only hide the failure above.
        console.print(f"[red]error:[/red] nothing analysed: none of the "
                      f"{plural(len(result.sources), 'input')} could be read; nothing written "
                      f"to {out}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    return result


def _write_outputs(
    result: Result, out: Path, table_format: TableFormat,
    writer: AnnotatedVideoWriter | None, blur: bool, report: bool,
) -> None:
    written = result.to_csv(out) if table_format is TableFormat.csv else result.to_parquet(out)
    summary = result.summary()
    # Unblurred only if some annotated video was written without blurring: --no-blur alone
    # changes nothing (thumbnails and the report are always blurred).
    blurred = blur or not (writer and writer.written)
    summary["settings"]["blur_annotated_video"] = blurred
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    written.append(out / "summary.json")
    if report:
        written.append(write_report(result, out / "report.html", blurred=blurred))
    if writer:
        written += writer.written
    _print_tracks(result)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    if report:
        console.print(f"\nOpen the report: [bold]{(out / 'report.html').resolve()}[/bold]")


def _print_tracks(result: Result) -> None:
    if result.statistics is not None:
        _print_statistics(result.statistics)
        return
    tracks = result.tracks
    if tracks.empty:
        console.print(result.no_tracks_reason())
        return
    table = Table("source", "track", "span (s)", "frames", "dominant expression", "age band")
    for row in tracks.itertuples():
        table.add_row(Path(row.source).name, str(row.track_id),
                      f"{row.first_s:.1f}-{row.last_s:.1f}", str(row.frames),
                      row.dominant_expression, row.age_band)
    console.print(table)


def _print_statistics(statistics: pd.DataFrame) -> None:
    table = Table("source", "span (s)", "people", "faces", "age bands (people)", "note")
    bands = [c for c in statistics.columns if c.startswith("people_age_")]
    for row in statistics.to_dict(orient="records"):
        where = (Path(row["source"]).name, f"{row['start_s']:.1f}-{row['end_s']:.1f}")
        if row["suppressed"]:
            table.add_row(*where, "", "", "", row["note"])
            continue
        ages = ", ".join(f"{c.removeprefix('people_age_')}: {row[c]}" for c in bands if row[c])
        table.add_row(*where, str(row["people"]), str(row["faces"]), ages, "")
    console.print(table)
