"""Cameras: list, read, create, change, delete. Changes are audited and wake the supervisor
(``Services.cameras_changed``); stream passwords in URLs are shown to admins only."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, Response

from affectlens.privacy.policy import redact_url
from affectlens.privacy.retention import remove_camera_media
from affectlens.security.access import ADMIN, ONLY_ADMIN, READERS, requires
from affectlens.security.accounts import Principal
from affectlens.service.camera_audit import audit_added, audit_changed
from affectlens.service.camera_settings import falls_text, settings_text
from affectlens.service.deps import Caller, ServicesDep, StoreDep, camera_or_404
from affectlens.service.schemas import CameraIn, CameraOut, CameraPatch, RowId
from affectlens.store import Store
from affectlens.store.db import StoreError

log = logging.getLogger(__name__)
router = APIRouter()


def shown(camera: object, caller: Principal) -> CameraOut:
    """A camera as the caller may see it: stream passwords for admins only."""
    out = CameraOut.model_validate(camera)
    return out if caller.role == ADMIN else out.model_copy(update={"url": redact_url(out.url)})


def refused(store: Store, error: StoreError, name: object, slug: object = None) -> str:
    """What the client is told: the likely cause in plain words, never the driver's
    message (table and constraint names, the values in the row); that goes to the log."""
    log.warning("camera change refused by the database: %s", error)
    if name is not None and any(c.name == name for c in store.cameras()):
        return f"a camera named {name!r} exists already"
    if slug is not None and any(c.slug == slug for c in store.cameras()):
        return f"a camera with the slug {slug!r} exists already"
    return "the database refused it (see the service log)"


@router.get("/api/cameras")
@requires(READERS)
def list_cameras(caller: Caller, store: StoreDep) -> list[CameraOut]:
    return [shown(c, caller) for c in store.cameras()]


@router.post("/api/cameras", status_code=201)
@requires(ONLY_ADMIN)
def create_camera(camera: CameraIn, caller: Caller, services: ServicesDep) -> CameraOut:
    store = services.store
    try:
        created = store.add_camera(
            camera.name, camera.url, camera.purpose, camera.analysis_fps,
            camera.blur_faces, slug=camera.slug, falls=falls_text(camera.falls),
            distress=settings_text(camera.distress))
    except StoreError as error:
        raise HTTPException(409, "camera not created: "
                            f"{refused(store, error, camera.name, camera.slug)}") from error
    audit_added(services.audit, caller.name, created)
    services.cameras_changed()
    return CameraOut.model_validate(created)


@router.get("/api/cameras/{camera_id}")
@requires(READERS)
def get_camera(camera_id: RowId, caller: Caller, store: StoreDep) -> CameraOut:
    return shown(camera_or_404(store, camera_id), caller)


@router.patch("/api/cameras/{camera_id}")
@requires(ONLY_ADMIN)
def update_camera(camera_id: RowId, patch: CameraPatch, caller: Caller,
                  services: ServicesDep) -> CameraOut:
    """Fields left out (or null) stay as they are, but ``falls: null`` turns falls off
    and ``distress: null`` brings the defaults back."""
    changes: dict[str, object] = patch.model_dump(exclude_none=True,
                                                  exclude={"falls", "distress"})
    if "falls" in patch.model_fields_set:
        changes["falls"] = falls_text(patch.falls)
    if "distress" in patch.model_fields_set:
        changes["distress"] = settings_text(patch.distress)
    if "blur_faces" in changes and caller.role != ADMIN:  # a second lock behind the rule above
        raise HTTPException(403, "only an administrator may turn face blurring off or on")
    store = services.store
    before = store.camera(camera_id)
    try:
        updated = store.update_camera(camera_id, **changes)
    except StoreError as error:
        raise HTTPException(409, "camera not changed: "
                            f"{refused(store, error, changes.get('name'))}") from error
    if updated is None or before is None:
        raise HTTPException(404, f"no camera {camera_id}")
    audit_changed(services.audit, caller.name, before, changes)
    services.cameras_changed()
    return CameraOut.model_validate(updated)


@router.delete("/api/cameras/{camera_id}", status_code=204)
@requires(ONLY_ADMIN)
def delete_camera(camera_id: RowId, caller: Caller, services: ServicesDep) -> Response:
    if not services.store.delete_camera(camera_id):
        raise HTTPException(404, f"no camera {camera_id}")
    removed = remove_camera_media(services.snapshots_dir, camera_id)  # its media go with it
    services.audit.append(caller.name, "camera.delete", f"camera:{camera_id}",
                          media_files=removed)
    services.hub.forget(camera_id)
    services.cameras_changed()
    return Response(status_code=204)
