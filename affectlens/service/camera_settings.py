"""A camera's fall and distress settings as the store keeps them (issue 14).

The camera row holds JSON of the keys someone set, in the site config or through the API;
``FallSettings`` and ``DistressSettings`` validate it and hold every default, so a default
changed in the code reaches every camera that did not set that key. One reading for all:
the worker's settings (runtime.py), the API's answers (schemas.py) and the zones (zones.py).
"""

from __future__ import annotations

import json
import logging

from pydantic import BaseModel, ValidationError

from affectlens.events.distress import DistressSettings
from affectlens.events.fall_settings import FallSettings

log = logging.getLogger(__name__)


def settings_text(settings: BaseModel | None) -> str | None:
    """What the store keeps of ``settings``: its set keys as JSON, keys sorted so that equal
    settings are equal texts; None for None and for nothing set (all defaults)."""
    if settings is None:
        return None
    values = settings.model_dump(mode="json", exclude_unset=True)
    return json.dumps(values, sort_keys=True) if values else None


def falls_text(falls: FallSettings | None) -> str | None:
    """Falls on with every default is ``{}``, not None (None is falls off)."""
    return None if falls is None else settings_text(falls) or "{}"


def parse_falls(text: str | None, camera_id: int | None = None) -> FallSettings | None:
    """None: falls off. Text that no longer validates (edited by hand in the database) is
    logged and read as falls on with the defaults: a camera someone set to watch for falls
    keeps watching, and one bad row cannot stop the supervisor."""
    if text is None:
        return None
    try:
        return FallSettings.model_validate_json(text)
    except ValidationError as error:
        log.error("camera %s: its stored falls settings are not valid; the defaults apply: %s",
                  camera_id, error)
        return FallSettings()


def parse_distress(text: str | None, camera_id: int | None = None) -> DistressSettings:
    """None: the defaults; text that no longer validates is logged and read as the defaults."""
    if text is None:
        return DistressSettings()
    try:
        return DistressSettings.model_validate_json(text)
    except ValidationError as error:
        log.error("camera %s: its stored distress settings are not valid; the defaults "
                  "apply: %s", camera_id, error)
        return DistressSettings()
