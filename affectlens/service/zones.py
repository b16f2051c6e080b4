"""Fall zones per camera (issue 5): bed, chair and floor polygons in pixels of the analysed
frame, from the camera's falls settings (``falls.zones``, set in the site config or through
the API) or drawn in the dashboard.

Precedence: zones drawn in the dashboard replace all of the falls settings' zones for that
camera; clearing them (saving an empty list) brings those back. Zones matter only where
falls are on: the camera has falls settings (that loads the pose model) and its purpose lets
a body be watched. Zones drawn on a camera without falls are kept, and ``GET .../zones``
says that falls are off. A change reaches the worker through its CameraSpec: the supervisor
pushes the new zones to the running worker (issue 14), whose open events stay open. The
routes are in routers/zones.py.
"""

from __future__ import annotations

import logging

from pydantic import TypeAdapter, ValidationError

from affectlens.events.fall_settings import FallSettings, Zone, Zones
from affectlens.privacy.policy import expression_allowed
from affectlens.service.schemas import ZonesOut
from affectlens.store.schema import Camera

log = logging.getLogger(__name__)

ZONES_CHANGE = "camera.zones_change"
ZONES: TypeAdapter[tuple[Zone, ...]] = TypeAdapter(Zones)


def drawn_zones(camera: Camera) -> tuple[Zone, ...] | None:
    """The zones drawn in the dashboard; None when none are. Stored text that no longer
    validates (edited by hand in the database) is logged and counts as none drawn, so one
    bad row cannot stop the supervisor."""
    if camera.zones is None:
        return None
    try:
        return ZONES.validate_json(camera.zones)
    except ValidationError as error:
        log.error("camera %s: its stored zones are not valid, ignored: %s", camera.id, error)
        return None


def effective_falls(declared: FallSettings | None, camera: Camera) -> FallSettings | None:
    """The camera's fall settings for its worker: its own, with the dashboard's zones in
    place of theirs when some were drawn; None: falls off."""
    drawn = drawn_zones(camera)
    if declared is None or drawn is None:
        return declared
    return declared.model_copy(update={"zones": drawn})


def zones_json(zones: tuple[Zone, ...] | None) -> list | None:
    """Zones as the audit log records them."""
    return None if zones is None else ZONES.dump_python(zones, mode="json")


def zones_of(camera: Camera, declared: FallSettings | None,
             frame_size: tuple[int, int] | None) -> ZonesOut:
    drawn = drawn_zones(camera)
    configured = declared.zones if declared is not None else ()
    if drawn is not None:
        zones, source = drawn, "dashboard"
    else:
        zones, source = configured, "site_config" if configured else "none"
    falls = declared is not None and expression_allowed(camera.purpose)
    if declared is None:
        note = ("falls are off for this camera (no falls settings, in the site config or "
                "through the API); its zones are kept and apply once falls are turned on")
    elif not falls:
        note = f"falls are off: a camera for {camera.purpose} never watches bodies"
    elif drawn is not None and configured:
        note = "the zones drawn here replace those of the camera's falls settings"
    else:
        note = ""
    width, height = frame_size if frame_size is not None else (None, None)
    return ZonesOut(camera_id=camera.id, zones=zones, source=source,
                    site_config_zones=configured, falls=falls, note=note,
                    frame_width=width, frame_height=height)
