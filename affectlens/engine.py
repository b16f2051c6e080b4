"""One engine per source: a frame in, everything the project knows about it out.

``Engine`` holds what is loaded once (the face pipeline's models, the pose model, the fall
classifier) and the rules' settings; ``Engine.open`` gives a ``SourceSession`` per source (a
video file, a camera's run) that owns the state of every stage: face tracks and smoothing,
person tracks, the fall / long-lie / inactivity rule and the sustained-distress rule.
``SourceSession.step`` returns a ``FrameResult`` per frame: the faces, the people, the events
that started or ended on it and the regions any picture of it must blur; ``finish`` ends
the events still open. ``SourceSession.book`` (events/book.py) owns every event's life:
the rules say what started and ended, the book what that opens and closes.

Offline ``analyze`` (analysis.py) and the live camera loop (service/worker.py) are sinks of
it: they decide where frames come from and where results go (tables and reports; messages,
previews and clips), never which stages run or in what order. So offline and live give the
same events on the same frames (tests/test_engine.py).

The purpose gate, in one place: where the purpose does not allow expression analysis
(``anonymous_statistics``) the expression model is never loaded (pipeline.py), no distress
rule runs and no body is watched (no pose model), whatever the settings ask.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from affectlens.events.book import EventBook
from affectlens.events.distress import DistressRule, DistressSettings
from affectlens.events.event import Event
from affectlens.events.fall_settings import FallSettings
from affectlens.models.motion import MotionDetector
from affectlens.people import PeopleAnalysis, PeoplePipeline, PeopleState, PoseGate
from affectlens.pipeline import Pipeline, SourceState
from affectlens.privacy.blur import blur_regions
from affectlens.privacy.policy import expression_allowed
from affectlens.tracking.tracker import UNTRACKED
from affectlens.types import FaceAnalysis, Frame


@dataclass(frozen=True)
class FrameResult:
    """One frame through every stage. ``events`` are those that started (``ended_s`` None) or
    ended on this frame; one object per event, so a sink may key its open events by id."""

    frame: Frame
    faces: FaceAnalysis
    body: PeopleAnalysis | None  # None: this source watches no bodies
    events: tuple[Event, ...]

    @property
    def extra_regions(self) -> np.ndarray | None:
        """What to blur besides detected faces: pose heads, people held on the floor unseen."""
        return self.body.blur_boxes() if self.body is not None else None

    def blur_boxes(self) -> np.ndarray:
        """Every region a picture of this frame that leaves the process must blur."""
        return blur_regions(self.faces, self.extra_regions)


class Engine:
    """The loaded models and the rules' settings; one ``SourceSession`` per source.

    ``falls`` None: no body path (the pose model is not loaded). ``people`` lends an already
    loaded body path (its settings give way to ``falls``).
    """

    def __init__(self, pipeline: Pipeline, falls: FallSettings | None = None,
                 distress: DistressSettings | None = None,
                 people: PeoplePipeline | None = None) -> None:
        self.pipeline = pipeline
        self.expression = expression_allowed(pipeline.config.purpose)
        if people is not None and not self.expression:
            raise ValueError(f"purpose {pipeline.config.purpose} never watches a person's "
                             "body: no pose path may be given")
        watch = falls is not None and self.expression
        if watch and people is None:
            config = pipeline.config
            # The pose model skips still pictures as the face search does (full_scan_every_s
            # None: both run on every frame, the reference). It compares each frame with
            # the picture it last ran on, so a slow change adds up; on a picture unchanged
            # since, it runs again once per still_tiles_every_s, as every detector tile is
            # searched again (None: once per full_scan_every_s).
            every = config.full_scan_every_s
            gate = (PoseGate(max(every, config.still_tiles_every_s or every),
                             MotionDetector(config.motion_threshold, config.min_face_px))
                    if every is not None else None)
            people = PeoplePipeline(falls, config.device, config.threads,
                                    landmarks=config.pose_landmarks, gate=gate)
        self.people = people
        self.falls = falls if falls is not None else (people.settings if people else None)
        self.distress = distress or DistressSettings()

    @property
    def models(self) -> tuple[str, ...]:
        """The models this engine runs, as a worker reports them."""
        expression = ("expression",) if self.pipeline.models.expression is not None else ()
        pose = ("pose",) if self.people is not None else ()
        return ("face_detector", *expression, "age", *pose)

    def open(self, analysis_fps: float | None) -> SourceSession:
        """A new source analysed at ``analysis_fps``; None: a still image (no tracking, so no
        time line: no rule fires)."""
        return SourceSession(self, analysis_fps)


class SourceSession:
    """One source's state through every stage; ``step`` frames in order, then ``finish``."""

    def __init__(self, engine: Engine, analysis_fps: float | None) -> None:
        self.engine = engine
        self._faces: SourceState = engine.pipeline.start_source(analysis_fps)
        self._body: PeopleState | None = (
            engine.people.start_source(analysis_fps, engine.falls)
            if engine.people is not None else None)
        # Distress needs expression and a time line (a track followed over frames).
        self.distress: DistressRule | None = (
            DistressRule(engine.distress) if engine.expression and analysis_fps else None)
        # What is open, from the rules' starts and ends: one owner of an event's life.
        self.book = EventBook()

    @property
    def watches_bodies(self) -> bool:
        return self._body is not None

    def step(self, frame: Frame) -> FrameResult:
        (result,) = self.step_many([frame])
        return result

    def step_many(self, frames: Sequence[Frame]) -> list[FrameResult]:
        """Frames of this source in order, through the models together (a batch), then
        through tracking and the rules one by one."""
        faces = self.engine.pipeline.analyse(frames, self._faces)
        people, body = self.engine.people, self._body
        bodies: list[PeopleAnalysis | None] = (
            list(people.analyse(frames, body)) if people is not None and body is not None
            else [None] * len(frames))
        return [FrameResult(frame, face, body, tuple(self.book.note((*self._distress(face), *(
                    body.events if body is not None else ())))))
                for frame, face, body in zip(frames, faces, bodies)]

    def _distress(self, analysis: FaceAnalysis) -> list[Event]:
        rule = self.distress
        if rule is None:
            return []
        events = []
        if analysis.dominant:  # expression analysed on this frame's faces
            for i, track_id in enumerate(analysis.track_ids):
                if track_id != UNTRACKED:
                    events += rule.update(int(track_id), analysis.timestamp,
                                          analysis.smoothed_probs[i])
        return events + rule.expire(analysis.timestamp)  # faces that left

    def apply(self, falls: FallSettings | None = None,
              distress: DistressSettings | None = None) -> None:
        """New thresholds and zones while running (issue 14's hot settings): open events,
        the people the rules hold and their clocks go on. Turning falls on or off is not
        hot (the pose model is loaded or not): a new session does that."""
        if distress is not None and self.distress is not None:
            self.distress.settings = distress  # the rule reads its settings every frame
        if falls is not None and self.engine.people is not None and self._body is not None:
            self.engine.people.apply(self._body, falls)

    def adopt(self, events: Sequence[Event], at_s: float) -> list[Event]:
        """Falls and long lies a live camera's earlier run left open (each with its stored
        ``key``), taken over at ``at_s`` of this session's clock: the fall rule holds each
        person as down where they fell (``FallRule.adopt``) and the book holds the events
        open under their keys, until the rule sees the person up (issue 14). A session
        that watches no bodies adopts nothing: no rule here could end them. Returns those
        adopted."""
        if self.engine.people is None or self._body is None or not events:
            return []
        return self.book.adopt(self._body.rule.adopt(list(events), at_s))

    def finish(self) -> list[Event]:
        """The events still open, ended at their last observation (end of a video, a
        camera's run); the session is done. Events opened in the book by the caller (a
        camera's outage) are the caller's to close (``book.close_all``)."""
        ended: list[Event] = list(self.distress.finish()) if self.distress else []
        if self.engine.people is not None and self._body is not None:
            ended += self.engine.people.finish(self._body)
        return self.book.note(ended)

