"""The cameras of the site config brought into the store, the one camera registry (issue 14).

The store holds every camera, whoever made it, under a slug that never changes; its display
name, stream, purpose, rate, blurring, falls and distress settings are columns, changed by the
site config or the API alike, and workers read them from there only.

Which source wins: the last change. A camera the file declares is found by its slug (``slug:``,
or one made from its name) and added with all of the file's settings. At each later start
the file sets only what it changed since it last set it (``cameras.site_seed`` remembers
that), so a setting changed through the API since (a new name, falls turned on, a threshold)
stays until the file's own value for it changes. The first start after the 0010 upgrade
finds no memory and sets all of the file's settings, as every start did before. Every change
the file makes is written to the audit log as through the API (actor ``site-config``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from affectlens.security.audit import AuditLog
from affectlens.service.camera_audit import audit_added, audit_changed
from affectlens.service.camera_settings import falls_text, settings_text
from affectlens.service.site import CameraConfig
from affectlens.store import Store
from affectlens.store.db import StoreError
from affectlens.store.schema import Camera

log = logging.getLogger(__name__)

SITE_CONFIG_ACTOR = "site-config"  # who the audit log names for changes made by the file
SIMPLE = frozenset({"name", "url", "purpose", "analysis_fps", "enabled", "blur_faces"})


def declared_values(declared: CameraConfig) -> dict[str, object]:
    """The file's settings of one camera, as the store keeps them."""
    return {**declared.model_dump(include=set(SIMPLE)),
            "falls": falls_text(declared.falls), "distress": settings_text(declared.distress)}


def file_changes(camera: Camera, wanted: Mapping[str, object]) -> dict[str, object]:
    """What the file changed since it last set this camera, where the camera differs."""
    before = json.loads(camera.site_seed) if camera.site_seed else None
    return {key: value for key, value in wanted.items()
            if (before is None or key not in before or before[key] != value)
            and getattr(camera, key) != value}


def sync_cameras(store: Store, cameras: list[CameraConfig]) -> None:
    """Cameras declared in the site config, by slug: added, or changed where the file
    changed. Cameras absent from the file are left alone. A change the database refuses
    (the name of another camera) is logged and skipped: the other cameras still start."""
    existing = {c.slug: c for c in store.cameras()}
    audit = AuditLog(store)
    _warn_of_renames(existing, cameras)
    for declared in cameras:
        wanted = declared_values(declared)
        seed = json.dumps(wanted, sort_keys=True)
        camera = existing.get(declared.key)
        try:
            if camera is None:
                _add(store, audit, declared, seed)
                continue
            changes = file_changes(camera, wanted)
            if changes:
                updated = store.update_camera(camera.id, **changes)
                audit_changed(audit, SITE_CONFIG_ACTOR, camera, changes)
                log.info("camera %s (%s) updated from the site config: %s", camera.id,
                         declared.key, ", ".join(sorted(changes)))
                camera = updated or camera
            if camera.site_seed != seed:
                store.update_camera(camera.id, site_seed=seed)
        except StoreError as error:
            log.error("camera %s of the site config not synced: the database refused it "
                      "(is its name another camera's?): %s", declared.key, error)


def _warn_of_renames(existing: Mapping[str, Camera], cameras: list[CameraConfig]) -> None:
    """A camera new to the store on the stream of a stored camera the file no longer declares
    was most likely renamed in the file without its slug: both would run, two workers on one
    stream. It is added all the same (two cameras may share a stream); the log says how to
    keep the old one's settings and events instead."""
    declared = {c.key for c in cameras}
    undeclared = {c.url: c for slug, c in existing.items() if slug not in declared}
    for camera in cameras:
        old = undeclared.get(camera.url)
        if camera.key not in existing and old is not None:
            log.warning("camera %s of the site config is new, but camera %s (slug %s), which "
                        "the file does not declare, has its stream: renamed in the file? Give "
                        "it 'slug: %s' to keep that camera, its settings and events",
                        camera.key, old.id, old.slug, old.slug)


def _add(store: Store, audit: AuditLog, declared: CameraConfig, seed: str) -> None:
    camera = store.add_camera(declared.name, declared.url, declared.purpose,
                              declared.analysis_fps, declared.blur_faces, slug=declared.key,
                              falls=falls_text(declared.falls),
                              distress=settings_text(declared.distress), site_seed=seed)
    audit_added(audit, SITE_CONFIG_ACTOR, camera)
    if not declared.enabled:
        audit_changed(audit, SITE_CONFIG_ACTOR, camera, {"enabled": False})
        store.update_camera(camera.id, enabled=False)
    log.info("camera %s (%s) added from the site config", camera.id, declared.key)
