"""Audit records of camera changes, written the same way whoever makes them: the API (the
caller's name) or the site config (``site-config``). Turning face blurring off or on and
changing a camera's purpose or its falls settings (on, off, thresholds, zones) are each
their own record, easy to find and review; stream passwords are never written."""

from __future__ import annotations

import json
from collections.abc import Mapping

from affectlens.privacy.policy import redact_url
from affectlens.security.audit import AuditLog
from affectlens.store.schema import Camera

BLUR_CHANGE = "camera.blur_change"
PURPOSE_CHANGE = "camera.purpose_change"
FALLS_CHANGE = "camera.falls_change"
CHANGE = "camera.change"
OWN_RECORDS = {"blur_faces": BLUR_CHANGE, "purpose": PURPOSE_CHANGE, "falls": FALLS_CHANGE}
SETTINGS = ("falls", "distress")  # kept as JSON text; recorded as what they say


def _shown(key: str, value: object) -> object:
    if key == "url":
        return redact_url(str(value))
    if key in SETTINGS and isinstance(value, str):
        return json.loads(value)
    return value


def audit_added(audit: AuditLog, actor: str, camera: Camera) -> None:
    target = f"camera:{camera.id}"
    audit.append(actor, "camera.add", target, name=camera.name, slug=camera.slug,
                 url=redact_url(camera.url), purpose=camera.purpose,
                 blur_faces=camera.blur_faces, falls=_shown("falls", camera.falls),
                 distress=_shown("distress", camera.distress))
    if not camera.blur_faces:  # a camera born unblurred is a blur change too
        audit.append(actor, BLUR_CHANGE, target, changes={"blur_faces": [None, False]})


def audit_changed(audit: AuditLog, actor: str, before: Camera,
                  changes: Mapping[str, object]) -> None:
    """One record per blur or purpose change, one for the rest; a change that changed nothing
    is still recorded (someone asked for it)."""
    target = f"camera:{before.id}"
    diff = {k: [_shown(k, getattr(before, k)), _shown(k, v)]
            for k, v in changes.items() if getattr(before, k) != v}
    written = False
    for key, action in OWN_RECORDS.items():
        if key in diff:
            audit.append(actor, action, target, changes={key: diff.pop(key)})
            written = True
    if diff or not written:
        audit.append(actor, CHANGE, target, changes=diff)
