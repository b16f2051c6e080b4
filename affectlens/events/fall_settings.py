"""What a camera's fall watch is told: the rule's thresholds and timings (``FallSettings``)
and the zones drawn on its image (``Zone``: bed and chair, where lying or sitting is no fall;
floor, watched for inactivity). Validated pydantic models, the only place their defaults live;
the rule itself is in falls.py, and reads them at every frame so that a hot change holds.
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from affectlens.types import Coordinate, names_unique

# Limits on zones, from the site config or the dashboard: each zone is tested for every
# person in every analysed frame, and a pixel is never negative or past any camera's frame.
MAX_ZONES = 32
MAX_ZONE_POINTS = 64
class Zone(BaseModel):
    """A polygon in one camera's image, in pixels of the analysed frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    kind: Literal["bed", "chair", "floor"] = Field(
        description="bed and chair: lying or sitting there is not a fall. floor: watched area."
    )
    points: tuple[tuple[Coordinate, Coordinate], ...] = Field(
        max_length=MAX_ZONE_POINTS, description="Polygon corners (x, y), pixels.")
    inactivity_minutes: float | None = Field(
        None, gt=0, le=7 * 24 * 60,
        description="Raise 'inactivity' when nothing moved here for this long.")

    @field_validator("points")
    @classmethod
    def _polygon(cls, points: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if len(points) < 3:
            raise ValueError("a zone needs at least 3 points")
        return points

    def contains(self, x: float, y: float) -> bool:
        """Even-odd ray casting; a point on no polygon (NaN) is outside."""
        if not (np.isfinite(x) and np.isfinite(y)):
            return False
        inside = False
        pts = self.points
        for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1]):
            if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside


Zones = Annotated[tuple[Zone, ...], Field(max_length=MAX_ZONES),
                  AfterValidator(names_unique("zone"))]


class FallSettings(BaseModel):
    """Per camera; unknown keys are refused. Angles in degrees, lengths in torso lengths."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    long_lie_s: float = Field(30.0, gt=0, le=86_400, description="On the floor this long: a "
                              "long lie.")
    upright_angle: float = Field(35.0, gt=0, lt=90, description="Torso tilt still upright.")
    floor_angle: float = Field(55.0, gt=0, le=90, description="Torso tilt that can be lying.")
    floor_drop: float = Field(0.5, gt=0, le=5, description="Hip drop below upright that can be "
                              "lying.")
    floor_level: float = Field(0.6, gt=0, le=5, description="Hips this near ankle height: flat.")
    floor_short: float = Field(0.6, gt=0, lt=1, description="Torso this foreshortened: flat.")
    knee_level: float = Field(0.35, gt=0, le=2, description="Knees this near ankle height: "
                              "down on the knees, not standing on the legs (stand_level).")
    flat_aspect: float = Field(1.3, gt=0, le=10, description="Body box this much wider than "
                               "tall, torso tilted, hips not standing on the legs: lying, from "
                               "any camera height.")
    flat_legs: float = Field(1.0, gt=0, le=5, description="Hips less than this far above the "
                             "ankles: not standing on the legs (for flat_aspect).")
    stand_level: float = Field(1.2, gt=0, le=5, description="Hips this far above the ankles, "
                               "knees up: standing on the legs, an up posture a fall can start "
                               "from even with the torso tilted (bending; a high camera).")
    confirm_s: float = Field(0.3, ge=0, le=10, description="Floor posture held before a fall "
                             "event.")
    low_confirm_s: float = Field(
        1.0, ge=0, le=10, description="Floor posture held before a fall event when the torso "
        "never lay flat (hips at ankle height: sitting or kneeling on the floor, but also a "
        "squat, whose bottom lasts under a second in exercise).")
    max_fall_s: float = Field(3.0, gt=0, le=30, description="Longest upright-to-floor step of a "
                              "fall.")
    window_s: float = Field(3.0, gt=0.5, le=30, description="Pose history the classifier reads.")
    min_probability: float = Field(
        0.7, gt=0, lt=1, description="Classifier probability needed for a fall event (above "
        "the classifier's own 0.5: on URFD's cross-validation 0.5 adds 3 false alarms and "
        "catches no more falls; benchmarks/falls.py, part 1).")
    recover_s: float = Field(1.0, ge=0, le=60, description="Upright this long after a fall: "
                             "recovered.")
    recovery_radius: float = Field(2.5, gt=0, le=50, description="Upright person this near: "
                                   "recovered.")
    long_lie_without_fall: bool = Field(
        True, description="Anyone who stays on the floor (outside bed and chair zones) for "
        "long_lie_s gets a long_lie, also without a fall event before it: a slow slide from a "
        "chair, a fall the classifier missed, or one before the camera saw the person. "
        "false: only after a fall event. Draw bed and chair zones where people lie or "
        "recline on purpose (a sofa).")
    second_look_score: float = Field(
        0.05, ge=0, lt=1, description="A person held as falling or down whom no detection "
        "matched is looked for again in a crop where they were last seen (as it is or turned "
        "a quarter either way), accepting this pose score there (below the 0.15 asked "
        "elsewhere): people lying on the floor score low. 0: no second look (one more pose "
        "pass a frame per person held down and unseen).")
    hold_unseen_s: float = Field(
        3600.0, gt=0, le=7 * 86_400, description="A person held on the floor unseen this long "
        "keeps no pose history: they are held as a place, as a person adopted from an earlier "
        "run is, and a track that begins there and is seen down takes over their events. "
        "Memory only: their fall or long lie stays open while they are presumed on the floor "
        "(never ended because time passed; reminders and escalation repeat the alert) and "
        "ends when someone is seen up where they lay, or a new fall there replaces it. At "
        "most MAX_HELD (16) people are held unseen on a camera.")
    lost_s: float = Field(2.0, gt=0, le=600, description="Forget an unseen person not on the "
                          "floor.")
    motion: float = Field(0.25, gt=0, le=10, description="Hip movement that counts as moving.")
    clip_before_s: float = Field(
        5.0, ge=0, le=30, description="Seconds of blurred video before a fall's first floor "
        "frame in the event's clip; with clip_after_s 0 too: no clips.")
    clip_after_s: float = Field(
        5.0, ge=0, le=30, description="Seconds of blurred video after a fall's first floor "
        "frame in the event's clip.")
    zones: Zones = ()
