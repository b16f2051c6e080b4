"""Analysis settings: the one place their defaults live, validated with clear messages."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from affectlens.events.distress import DistressSettings
from affectlens.events.fall_settings import FallSettings
from affectlens.models.age import AgeModelName
from affectlens.models.expression import ExpressionModelName
from affectlens.models.pose_landmarks import PoseLandmarksName
from affectlens.models.runtime import Device, Precision
from affectlens.privacy.policy import check_config, expression_allowed, voice_allowed
from affectlens.vocabulary import Purpose
from affectlens.voice.settings import VoiceSettings


def refuse_hard_lines(value: object) -> object:
    """A purpose on a hard line is refused with the reason, not just 'not allowed' (the
    Literal alone would list the allowed purposes and say nothing of why): for every model
    with a purpose field, so a job, the API and site.yaml all say the same."""
    if isinstance(value, str):
        try:
            check_config({"purpose": value})
        except ValueError as exc:  # the field is named by whoever reports it, once
            raise ValueError(str(exc).removeprefix("purpose: ")) from None
    return value


class AnalysisConfig(BaseModel):
    """How a video or image is analysed. Unknown keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    purpose: Purpose = Field(
        Purpose.CONSENTED_RESEARCH,
        description="Why this job runs (the README's hard lines). care_safety or "
        "consented_research: expression, age, tracks and falls per person. "
        "anonymous_statistics: the expression and pose models are never loaded; only "
        "aggregate counts (faces, people, age bands) per file, each over at least min_group "
        "people. Default consented_research: offline analysis of recorded sessions is the "
        "researchers' use, with the filmed people's consent; say anonymous_statistics "
        "otherwise. Hard-line purposes (e.g. staff monitoring) are refused with the reason.",
    )
    min_group: int = Field(
        5, ge=2, le=10_000, description="anonymous_statistics: k, the fewest distinct people an "
        "aggregate may describe; a file with fewer has its counts suppressed.",
    )
    statistics_every_s: float | None = Field(
        None, gt=0, le=86_400,
        description="anonymous_statistics: one aggregate row per this many "
        "seconds of each video, each over at least min_group people on its own; None: one "
        "row per file.",
    )
    fps: float | None = Field(
        None, gt=0, le=1000,
        description="Frames analysed per second of video; None = every frame."
    )
    expression_model: ExpressionModelName = Field(
        "affectlens", description="Expression model (see docs/accuracy.md)."
    )
    age_model: AgeModelName = Field(
        "affectlens", description="Age model (see docs/accuracy.md)."
    )
    device: Device = Field(
        "cpu", description="Where the models run: cpu, cuda (needs ONNX Runtime's GPU build "
        "in place of the CPU one: docs/deployment.md, GPU nodes), or auto (cuda where it "
        "starts, else cpu)."
    )
    min_face_px: float = Field(
        24, ge=8, le=4096,
        description="Smallest face width searched for, in pixels. Smaller is slower.",
    )
    face_score_threshold: float = Field(
        0.78, gt=0, lt=1, description="Face detector confidence needed to keep a face."
    )
    full_scan_every_s: float | None = Field(
        1.0, gt=0, le=3600,
        description="Video: on the first analysed frame of each period of this many "
        "seconds of video time (counted from the video's start, so segments of a video "
        "search as one pass does) search the detector tiles whose picture changed since they "
        "were last searched (see still_tiles_every_s), and in between only the tiles in which "
        "the picture changed since the frame before (motion_threshold) or that hold a face "
        "seen lately, so a still face newly in view is found within about this time (offline "
        "and live alike; its cost in faces found: docs/speed.md). A change within the reach "
        "of a person whose face was found on the frame before (their body moving) wakes no "
        "tile in between, unless that face is not found again: a face coming into view beside "
        "a moving person is found within this time too. With pose, the pose model "
        "runs only on frames in which the picture changed since it last ran (motion_threshold; "
        "a still picture reuses that run's people), and at least once per still_tiles_every_s "
        "(or this period, whichever is longer). null (None): every frame searched in full and "
        "posed, the reference the gated search is measured against (slower).",
    )
    still_tiles_every_s: float | None = Field(
        10.0, gt=0, le=3600,
        description="With full_scan_every_s: the search on each period's first frame leaves "
        "out the tiles whose picture has not changed (motion_threshold) since they were "
        "last searched, compared with the picture they were searched on, so a slow change "
        "adds up (the detector gives the same answer on the same picture); every tile is "
        "searched on the first analysed frame of each period of this many seconds of video "
        "time (counted from the video's start), and the pose model run, as a safety net. "
        "null (None): every tile, and the pose model, on every period's first frame (the "
        "behaviour before 2026-12-07). Chosen on a validation clip set (docs/speed.md).",
    )
    motion_search_every_s: float = Field(
        0.2, ge=0, le=60,
        description="With full_scan_every_s: a detector tile woken by a change in the "
        "picture is searched at most once per this many seconds of video time, rounded to "
        "whole analysed frames (a change in between is remembered: the tile is searched when "
        "its wait ends). Tiles that hold a face seen lately are searched on every frame. So a "
        "face that comes into view is found up to this much later, and a moving body costs "
        "a search per wait, not per frame; at 1/this analysed fps or fewer (5 at the "
        "default) every woken tile is searched on every frame. 0: no wait. Chosen on a "
        "validation clip set (docs/speed.md).",
    )
    motion_threshold: float = Field(
        12, ge=1, le=255,
        description="With full_scan_every_s: grey levels (0-255) a part of the frame, shrunk "
        "so the smallest face is 4 pixels wide, must change by between analysed frames to be "
        "searched for faces (affectlens/models/motion.py). Lower finds faces in faint motion "
        "sooner and costs more; chosen on a validation clip set (docs/speed.md).",
    )
    age_every_s: float | None = Field(
        1.0, gt=0, le=3600,
        description="Video: a tracked face's age is estimated on its first analysed frame in "
        "each period of this many seconds of video time (counted from the video's start, as "
        "full_scan_every_s is) and carried on its other frames in that period: a person's age "
        "does not change between frames, and the age model costs as much a face as the "
        "expression model. Faces not yet on a track, and still images, are estimated every "
        "time. null: every face on every frame.",
    )
    smoothing_tau_s: float = Field(
        1.0, gt=0, le=3600, description="Time constant of per-track expression smoothing, seconds."
    )
    switch_margin: float = Field(
        0.1, ge=0, lt=1, description="Lead another expression needs to replace the dominant one."
    )
    min_confidence: float | None = Field(
        None, ge=0, le=1,
        description="Below this smoothed probability a face is 'uncertain'. None: the "
        "expression model's calibrated threshold (0.4 for an uncalibrated model).",
    )
    lost_track_seconds: float = Field(
        1.0, gt=0, le=3600, description="How long a track survives without its face being seen."
    )
    batch_frames: int = Field(8, ge=1, le=256, description="Frames sent through models at once.")
    detector_batch_tiles: int = Field(
        16, ge=1, le=4096,
        description="Most face-detector tiles (128x128 network inputs) in one network call. "
        "The detector's working memory grows with it (a few MB a tile) and not with the "
        "frames' size or batch_frames, which only set how many calls a batch takes; a 1080p "
        "frame has about 300 tiles, a 4K frame 1,300. On a CPU small calls cost no more time "
        "a tile (docs/benchmarks.md); a GPU may want more.",
    )
    max_image_side: int = Field(
        4096, ge=256, le=65_536,
        description="Larger images are scaled down to this side before analysis, with a "
        "warning; an image whose header declares over 150 million pixels is refused before "
        "it is decoded."
    )
    threads: int = Field(
        1, ge=0, le=1024,
        description="CPU threads per model; 0 = all cores. One (the default, offline and "
        "live): the gated face search sends a few detector tiles a call, too little work to "
        "share, so a second thread mostly spins (same wall time, twice the CPU: docs/speed.md); "
        "a live service runs one worker process per camera, which uses the cores. More help "
        "only a search of every frame in full (full_scan_every_s null).",
    )
    precision: Precision = Field(
        "int8",
        description="On the CPU, the expression and age models run in their int8 form where "
        "one ships (affectlens's own models; made and checked against the float form by "
        "tools/quantize_models.py): about a third of the CPU a face, the same label on about "
        "99% of faces (docs/accuracy.md). float: the float form, the reference. A GPU always "
        "runs the float form.",
    )
    pose: bool = Field(
        True, description="Offline analysis: estimate body pose, track people and detect falls "
        "(videos only). Live cameras use their own 'falls' setting instead."
    )
    pose_landmarks: PoseLandmarksName = Field(
        "none", description="Who places the body joints (with pose on, and on live cameras "
        "with falls): none, MoveNet alone; mediapipe, MoveNet finds the people and MediaPipe's "
        "pose landmark model, the one the fall data were made with, places each one's joints "
        "on a crop turned upright (docs/falls.md, 'Pose model at run time')."
    )
    falls: FallSettings = Field(
        default_factory=FallSettings,
        description="Offline analysis: fall, long-lie and inactivity rule and its zones.",
    )
    distress: DistressSettings = Field(
        default_factory=DistressSettings,
        description="Offline analysis: sustained distress (events.csv), as on a live camera; "
        "videos only, for purposes that allow expression analysis.",
    )
    voice: VoiceSettings = Field(
        default_factory=VoiceSettings,
        description="Offline analysis: tone of voice in the audio (consented_research only).",
    )

    @field_validator("purpose", mode="before")
    @classmethod
    def _hard_lines(cls, value: object) -> object:
        return refuse_hard_lines(value)

    @property
    def expression_allowed(self) -> bool:
        """Whether this job may load and run the expression model."""
        return expression_allowed(self.purpose)

    @property
    def voice_allowed(self) -> bool:
        """Whether this job may analyse tone of voice (its purpose, and voice.enabled)."""
        return voice_allowed(self.purpose) and self.voice.enabled
