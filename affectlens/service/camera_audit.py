"""Audit records of camera changes, written the same way whoever makes them: the API (the
caller's name) or the site config (``site-config``). Turning face blurring off or on and
changing a camera's purpose are each their own record, easy to find and review; stream
passwords are never written."""

from __future__ import annotations

from collections.abc import Mapping

from affectlens.privacy.policy import redact_url
from affectlens.security.audit import AuditLog
from affectlens.store.schema import Camera

BLUR_CHANGE = "camera.blur_change"
PURPOSE_CHANGE = "camera.purpose_change"
CHANGE = "camera.change"
OWN_RECORDS = {"blur_faces": BLUR_CHANGE, "purpose": PURPOSE_CHANGE}


def _shown(key: str, value: object) -> object:
    return redact_url(str(value)) if key == "url" else value


def audit_added(audit: AuditLog, actor: str, camera: Camera) -> None:
    target = f"camera:{camera.id}"
    audit.append(actor, "camera.add", target, name=camera.name, url=redact_url(camera.url),
                 purpose=camera.purpose, blur_faces=camera.blur_faces)
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
