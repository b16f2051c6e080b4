"""What the API accepts and returns. Inputs are strict: unknown fields and bad values are a
422 that names the field, never a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from affectlens.events.distress import DistressSettings
from affectlens.events.fall_settings import FallSettings, Zone, Zones
from affectlens.service.camera_settings import parse_distress, parse_falls
from affectlens.store.schema import DEFAULT_FPS, FALLS_DEFAULT_FPS
from affectlens.vocabulary import Purpose

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https", "file", "device")


def check_stream_url(url: str) -> str:
    """rtsp://host/path, http(s)://host/path (MJPEG), file:///path (played in a loop) or
    device:///dev/video0 (USB/V4L2)."""
    parts = urlsplit(url)
    if parts.scheme not in STREAM_SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(STREAM_SCHEMES)}, not "
                         f"{parts.scheme or 'missing'!r}")
    if parts.scheme in ("file", "device"):
        if not parts.path:
            raise ValueError(f"{parts.scheme}:// needs a path")
    elif not parts.hostname:
        raise ValueError("the URL has no host")
    return url


StreamUrl = Annotated[str, Field(max_length=2000), AfterValidator(check_stream_url)]
# A camera's key for good (issue 14): lower-case letters, digits and inner dashes.
Slug = Annotated[str, Field(min_length=1, max_length=64,
                            pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")]
# Row ids are 32-bit in PostgreSQL and 64-bit in SQLite: a larger one is a 422, not a 500.
MAX_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=0, le=MAX_ID)]


FALLS_HELP = ("Falls, long lies and inactivity from body pose, with their thresholds and "
              "zones (the site config's cameras[].falls); null: off. A change replaces the "
              "whole falls settings: keys left out take their defaults.")
DISTRESS_HELP = ("Sustained distress thresholds (the site config's cameras[].distress); "
                 "null or {}: the defaults. A change replaces them whole.")


def _stored_falls(value: object) -> object:
    """A camera row keeps its settings as JSON text (None: falls off); read as the model."""
    return parse_falls(value) if isinstance(value, str) else value


def _stored_distress(value: object) -> object:
    return parse_distress(value) if value is None or isinstance(value, str) else value


# Each field's constraints once, for the site config's cameras too where they agree.
# A display name (a camera's, an alert rule's): letters, digits, spaces, dots and dashes.
DisplayName = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w .-]+$")]
CameraName = DisplayName
AnalysisFps = Annotated[float, Field(gt=0, le=30)]


class CameraBase(BaseModel):
    """What a client may set on a camera, in the shape of a change: every field optional,
    left out (or null) meaning "as it is". ``CameraIn`` makes a new camera's fields required
    or gives them their defaults; ``CameraPatch`` adds what only a change sets."""

    model_config = ConfigDict(extra="forbid")

    name: CameraName | None = None
    url: StreamUrl | None = None
    purpose: Purpose | None = None
    analysis_fps: AnalysisFps | None = None
    blur_faces: bool | None = Field(None, description="Admins only; every change is audited "
                                    "as camera.blur_change.")
    falls: FallSettings | None = Field(None, description=FALLS_HELP + " Audited as "
                                       "camera.falls_change.")
    distress: DistressSettings | None = Field(None, description=DISTRESS_HELP)


class CameraIn(CameraBase):
    name: CameraName
    slug: Slug | None = Field(None, description="The camera's key for good (the site config "
                              "finds it by this); unset: made from the name.")
    url: StreamUrl
    purpose: Purpose
    analysis_fps: AnalysisFps = Field(
        DEFAULT_FPS, description=f"Frames analysed per second; unset: {DEFAULT_FPS:g}, or "
        f"{FALLS_DEFAULT_FPS:g} with falls.")
    blur_faces: bool = Field(True, description="Blur faces in previews and snapshots; off "
                             "(admins only, audited) marks every served frame.")
    falls: FallSettings | None = Field(None, description=FALLS_HELP)

    @model_validator(mode="after")
    def _falls_fps(self) -> CameraIn:
        """As in the site config: a fall camera left at the default rate runs at
        FALLS_DEFAULT_FPS (at 5 frames a second the rule misses more falls)."""
        if self.falls is not None and "analysis_fps" not in self.model_fields_set:
            self.analysis_fps = FALLS_DEFAULT_FPS
        return self


class CameraPatch(CameraBase):
    enabled: bool | None = None


class CameraOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    url: str
    purpose: Purpose
    analysis_fps: float
    enabled: bool
    created_at: datetime
    blur_faces: bool
    falls: Annotated[FallSettings | None, BeforeValidator(_stored_falls)] = None
    distress: Annotated[DistressSettings, BeforeValidator(_stored_distress)] = Field(
        default_factory=DistressSettings)


class EventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    camera_id: int
    kind: str
    started_at: datetime
    ended_at: datetime | None
    confidence: float
    track_id: int | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    comment: str | None
    clip: Annotated[bool, BeforeValidator(lambda path: bool(path))] = Field(
        False, description="A blurred video of the seconds around this fall is stored: "
        "GET /api/events/{id}/clip.webm")
    snapshot: Annotated[bool, BeforeValidator(lambda path: bool(path))] = Field(
        False, description="The blurred frame that raised this event is stored: "
        "GET /api/events/{id}/snapshot.jpg")


class Acknowledgement(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: str | None = Field(None, min_length=1, max_length=60)  # the logged-in name is kept too
    comment: str | None = Field(None, max_length=2000)


class CameraLiveOut(BaseModel):
    """A camera's state right now; ``online`` is None until its worker has reported."""

    camera_id: int
    name: str
    online: bool | None
    message: str
    analysed_fps: float
    faces: int
    at: datetime | None
    node: str | None = Field(None, description="Where its worker runs: this machine's host "
                             "name, or on a cluster the node's address and id.")


class ConnectionTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: StreamUrl
    timeout_s: float = Field(5.0, gt=0, le=30)


class ConnectionTestOut(BaseModel):
    ok: bool
    message: str
    width: int | None = None
    height: int | None = None
    seconds: float


class StatsSeries(BaseModel):
    """Per-minute series for charts: one value per minute from ``since``, zeros included."""

    camera_id: int
    since: datetime
    until: datetime
    minutes: list[datetime]
    faces: list[int]  # face-frames
    people: list[int]  # distinct tracks per minute (affectlens.counting)
    expressions: dict[str, list[int]]  # face-frames per dominant expression
    age_bands: dict[str, list[int]]  # people per band, each track by its median age


class ScreenOut(BaseModel):
    """The entrance display: aggregates over all cameras since the hour began, or, until
    ``min_people`` different people were surely seen, nothing but ``enough=False``.
    ``people`` sums per-minute counts: someone seen over three minutes counts three times;
    ``age_bands`` likewise counts people (each by its median age in the minute),
    ``expressions`` face-frames (affectlens.counting)."""

    enough: bool
    min_people: int
    since: datetime
    people: int | None = None
    age_bands: dict[str, int] | None = None
    expressions: dict[str, int] | None = None


class ZonesIn(BaseModel):
    """A camera's fall zones as drawn in the dashboard; an empty list clears them (the site
    config's zones apply again)."""

    model_config = ConfigDict(extra="forbid")

    zones: Zones


class ZonesOut(BaseModel):
    """The zones in effect for a camera and where they come from: the dashboard's replace
    the site config's. ``frame_width`` and ``frame_height``: the analysed frame's size
    (zones are in its pixels; previews may be smaller), None until a preview arrived."""

    camera_id: int
    zones: tuple[Zone, ...]
    # site_config: the zones of the camera's falls settings (set in the site config or
    # through the API); the name is kept for the clients that read it.
    source: Literal["dashboard", "site_config", "none"]
    site_config_zones: tuple[Zone, ...]
    falls: bool  # whether falls are analysed on this camera at all
    note: str
    frame_width: int | None
    frame_height: int | None
