"""The HTTP API (FastAPI; its OpenAPI document at /openapi.json) and the dashboard it serves.

Cameras, events and health are here; live state, previews, statistics, the entrance screen
and the websocket are in live_api. The dashboard (``/``) and the entrance screen (``/screen``)
are static files from ``web/`` that only call this API.
Routes are thin: they validate, call the Store, and turn its refusals into 4xx answers.
Every request passes the security guard first (affectlens.security.guard): it answers 401
without a login, 403 to a role that ``access.ACCESS`` does not allow, and adds the security
headers. Changes and media views are written to the hash-chained audit log.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from affectlens.privacy.policy import redact_url, refusal
from affectlens.privacy.retention import remove_camera_media
from affectlens.security.accounts import Accounts, Principal
from affectlens.security.audit import AuditLog
from affectlens.security.guard import Guard, SecuritySettings, principal_of
from affectlens.security.throttle import AttemptLimiter
from affectlens.service.account_api import account_router
from affectlens.service.camera_audit import audit_added, audit_changed
from affectlens.service.camera_settings import falls_text, settings_text
from affectlens.service.clips import CLIP_MEDIA_TYPE, CLIP_SUFFIX
from affectlens.service.dead_letter_api import dead_letter_router
from affectlens.service.hub import Hub
from affectlens.service.live_api import live_router
from affectlens.service.schemas import (
    Acknowledgement,
    CameraIn,
    CameraOut,
    CameraPatch,
    EventOut,
    RowId,
)
from affectlens.service.times import ZonedTime
from affectlens.service.zones import zones_router
from affectlens.store import Store
from affectlens.store.db import StoreError
from affectlens.version import __version__

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent / "web"
SCREEN_MIN_PEOPLE = 5
Caller = Annotated[Principal, Depends(principal_of)]
MEDIA_SUFFIXES = (".jpg", ".jpeg", CLIP_SUFFIX)  # events' blurred snapshots and clips


def json_safe(value: object) -> object:
    """NaN and infinities (Python's JSON reader accepts them) as text: the 422 that echoes
    them must itself be valid JSON, not a 500."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def media_file(folder: Path | None, relative: str | None) -> Path | None:
    """``folder/relative`` if it is a file inside ``folder`` (no ``..``, no absolute path, no
    link out of it), else None."""
    if folder is None or not relative:
        return None
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path.suffix.lower() not in MEDIA_SUFFIXES:
        return None
    return path if path.is_file() else None


SECRET_FIELDS = ("password", "new_password", "current_password", "secret", "token")


def without_secrets(errors: list[dict]) -> list[dict]:
    """A refused password is not echoed back in the 422 (nor kept by a logging proxy)."""
    return [{k: v for k, v in e.items() if k not in ("input", "ctx")}
            if any(part in SECRET_FIELDS for part in e.get("loc", ())) else e for e in errors]


def explain_hard_lines(errors: list[dict]) -> list[dict]:
    """An unknown field or value that crosses a hard line (``race_detection``, purpose
    ``staff_monitoring``) is refused like any unknown one, but the message says why."""
    explained = []
    for error in errors:
        if error.get("type") in ("extra_forbidden", "literal_error", "enum"):
            value = error.get("input")
            texts = [str(error["loc"][-1]) if error.get("loc") else "",
                     value if isinstance(value, str) else ""]
            reason = next((r for t in texts if (r := refusal(t)) is not None), None)
            if reason is not None:
                error = {**error, "type": "hard_line", "msg": reason}
        explained.append(error)
    return explained


def create_app(
    store: Store,
    hub: Hub | None = None,
    screen_min_people: int = SCREEN_MIN_PEOPLE,
    on_cameras_changed: Callable[[], None] | None = None,
    security: SecuritySettings | None = None,
    snapshots_dir: Path | None = None,
    on_replay: Callable[[], None] | None = None,
) -> FastAPI:
    """The app over ``store``. Without a ``hub`` (no camera workers in this process) live
    routes report every camera as not yet heard from. ``on_cameras_changed`` is called after
    a camera is created, changed or deleted, so a supervisor can start or stop its worker.
    Nobody gets in until an account exists (``affectlens user add``) or a token
    (``affectlens token add``). ``snapshots_dir`` is where workers write events' blurred
    snapshots (the site's ``snapshots_dir``); without it event snapshots are a 404.
    ``on_replay`` is called after an admin replays a
    dead letter (dead_letter_api.py), to wake the alert dispatcher."""
    if screen_min_people < 1:
        raise ValueError("screen_min_people must be at least 1")
    hub = hub if hub is not None else Hub()
    security = security or SecuritySettings()
    accounts = Accounts(store, security.policy, security.clock)
    audit = AuditLog(store, security.clock)

    def changed() -> None:
        """The change is stored either way; a failing listener is logged, not a 500."""
        if on_cameras_changed is not None:
            try:
                on_cameras_changed()
            except Exception:
                log.exception("on_cameras_changed failed; the supervisor's poll will catch up")
    app = FastAPI(title="affectlens", version=__version__,
                  description="Privacy-first video analytics: cameras, events, live state, "
                              "blurred previews, statistics, health.",
                  docs_url=None, redoc_url=None)  # their pages need inline script (CSP)
    @app.exception_handler(RequestValidationError)
    async def unprocessable(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={
            "detail": json_safe(jsonable_encoder(
                without_secrets(explain_hard_lines(list(error.errors())))))})

    app.add_middleware(Guard, routes=lambda: app.router.routes, accounts=accounts,
                       settings=security)
    app.include_router(account_router(accounts, audit,
                                      AttemptLimiter(security.login_attempts_per_minute)))
    app.include_router(live_router(store, hub, screen_min_people, audit,
                                   security.camera_tests_per_minute))
    app.include_router(zones_router(store, hub, audit, changed))
    app.include_router(dead_letter_router(store, audit, on_replay))
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.get("/login", include_in_schema=False)
    def login_page() -> FileResponse:
        return FileResponse(WEB / "login.html")

    @app.get("/screen", include_in_schema=False)
    def screen_page() -> FileResponse:
        return FileResponse(WEB / "screen.html")

    def shown(camera: object, caller: Principal) -> CameraOut:
        """A camera as the caller may see it: stream passwords for admins only."""
        out = CameraOut.model_validate(camera)
        return out if caller.role == "admin" else out.model_copy(
            update={"url": redact_url(out.url)})

    def camera_or_404(camera_id: int, caller: Principal) -> CameraOut:
        camera = store.camera(camera_id)
        if camera is None:
            raise HTTPException(404, f"no camera {camera_id}")
        return shown(camera, caller)

    @app.get("/api/health")
    def health(request: Request) -> dict:
        """Open, for load balancers and start-up checks; details only with a login."""
        if request.scope.get("state", {}).get("principal") is None:
            return {"status": "ok"}
        return {"status": "ok", "version": __version__, "cameras": len(store.cameras())}

    def refused(error: StoreError, name: object, slug: object = None) -> str:
        """What the client is told: the likely cause in plain words, never the driver's
        message (table and constraint names, the values in the row); that goes to the log."""
        log.warning("camera change refused by the database: %s", error)
        if name is not None and any(c.name == name for c in store.cameras()):
            return f"a camera named {name!r} exists already"
        if slug is not None and any(c.slug == slug for c in store.cameras()):
            return f"a camera with the slug {slug!r} exists already"
        return "the database refused it (see the service log)"

    @app.get("/api/cameras")
    def list_cameras(caller: Caller) -> list[CameraOut]:
        return [shown(c, caller) for c in store.cameras()]

    @app.post("/api/cameras", status_code=201)
    def create_camera(camera: CameraIn, caller: Caller) -> CameraOut:
        try:
            created = store.add_camera(
                camera.name, camera.url, camera.purpose, camera.analysis_fps,
                camera.blur_faces, slug=camera.slug, falls=falls_text(camera.falls),
                distress=settings_text(camera.distress))
        except StoreError as error:
            raise HTTPException(409, "camera not created: "
                                f"{refused(error, camera.name, camera.slug)}") from error
        audit_added(audit, caller.name, created)
        changed()
        return CameraOut.model_validate(created)

    @app.get("/api/cameras/{camera_id}")
    def get_camera(camera_id: RowId, caller: Caller) -> CameraOut:
        return camera_or_404(camera_id, caller)

    @app.patch("/api/cameras/{camera_id}")
    def update_camera(camera_id: RowId, patch: CameraPatch, caller: Caller) -> CameraOut:
        """Fields left out (or null) stay as they are, but ``falls: null`` turns falls off
        and ``distress: null`` brings the defaults back."""
        changes: dict[str, object] = patch.model_dump(exclude_none=True,
                                                      exclude={"falls", "distress"})
        if "falls" in patch.model_fields_set:
            changes["falls"] = falls_text(patch.falls)
        if "distress" in patch.model_fields_set:
            changes["distress"] = settings_text(patch.distress)
        if "blur_faces" in changes and caller.role != "admin":  # the access table says so
            raise HTTPException(403, "only an administrator may turn face blurring off or on")
        before = store.camera(camera_id)
        try:
            updated = store.update_camera(camera_id, **changes)
        except StoreError as error:
            raise HTTPException(409, f"camera not changed: {refused(error, changes.get('name'))}"
                                ) from error
        if updated is None or before is None:
            raise HTTPException(404, f"no camera {camera_id}")
        audit_changed(audit, caller.name, before, changes)
        changed()
        return CameraOut.model_validate(updated)

    @app.delete("/api/cameras/{camera_id}", status_code=204)
    def delete_camera(camera_id: RowId, caller: Caller) -> Response:
        if not store.delete_camera(camera_id):
            raise HTTPException(404, f"no camera {camera_id}")
        removed = remove_camera_media(snapshots_dir, camera_id)  # its media go with it
        audit.append(caller.name, "camera.delete", f"camera:{camera_id}", media_files=removed)
        hub.forget(camera_id)
        changed()
        return Response(status_code=204)

    @app.get("/api/events")
    def list_events(
        camera_id: RowId | None = None,
        kind: Annotated[str | None, Query(max_length=32)] = None,
        since: ZonedTime | None = None,
        until: ZonedTime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[EventOut]:
        """Times are ISO 8601 with a time zone (``2026-11-27T10:00:00Z``); anything else,
        a bare number included, is a 422 naming the parameter."""
        events = store.events(camera_id, kind, since, until, limit)
        return [EventOut.model_validate(e) for e in events]

    def event_media(event_id: int, caller: Principal, what: Literal["snapshot", "clip"],
                    media_type: str) -> FileResponse:
        """An event's blurred snapshot or clip, its view audited; only a file inside
        ``snapshots_dir`` is served, whatever path the database holds."""
        event = store.event(event_id)
        if event is None:
            raise HTTPException(404, f"no event {event_id}")
        path = media_file(snapshots_dir, getattr(event, what))
        if path is None:
            raise HTTPException(404, f"event {event_id} has no {what}")
        audit.append(caller.name, f"media.event_{what}", f"event:{event_id}")
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-store"})

    @app.get("/api/events/{event_id}/snapshot.jpg", response_class=FileResponse,
             responses={200: {"content": {"image/jpeg": {}}}})
    def event_snapshot(event_id: RowId, caller: Caller) -> FileResponse:
        return event_media(event_id, caller, "snapshot", "image/jpeg")

    @app.get("/api/events/{event_id}/clip.webm", response_class=FileResponse,
             responses={200: {"content": {CLIP_MEDIA_TYPE: {}}}})
    def event_clip(event_id: RowId, caller: Caller) -> FileResponse:
        """The blurred video of the seconds around a fall. Range requests (a <video>
        seeking) get 206 and the part asked for; each request is audited."""
        return event_media(event_id, caller, "clip", CLIP_MEDIA_TYPE)

    @app.post("/api/events/{event_id}/acknowledge")
    def acknowledge(event_id: RowId, body: Acknowledgement, caller: Caller) -> EventOut:
        """Recorded under the caller's account name; ``by`` (a name typed on a shared
        screen) is kept beside it."""
        by = caller.name if body.by in (None, caller.name) else f"{body.by} ({caller.name})"
        event = store.acknowledge(event_id, by[:100], body.comment)
        if event is None:
            raise HTTPException(404, f"no event {event_id}")
        audit.append(caller.name, "event.acknowledge", f"event:{event_id}",
                     comment=body.comment)
        acknowledged = EventOut.model_validate(event)
        hub.publish_event(acknowledged.model_dump(mode="json"))  # other dashboards update
        return acknowledged

    return app
