"""The HTTP API (FastAPI; OpenAPI docs at /docs) and the dashboard it serves.

Cameras, events and health are here; live state, previews, statistics, the entrance screen
and the websocket are in live_api. The dashboard (``/``) and the entrance screen (``/screen``)
are static files from ``web/`` that only call this API.
Routes are thin: they validate, call the Store, and turn its refusals into 4xx answers.
Authentication and roles arrive with the privacy work (issue 6); until then this API must
only listen on a trusted interface.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Response
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from affectlens.service.hub import Hub
from affectlens.service.live_api import live_router
from affectlens.service.schemas import (
    Acknowledgement,
    CameraIn,
    CameraOut,
    CameraPatch,
    EventOut,
)
from affectlens.store import Store
from affectlens.store.db import StoreError
from affectlens.version import __version__

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent / "web"
SCREEN_MIN_PEOPLE = 5


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{name} needs a time zone, e.g. 2026-11-27T10:00:00Z")
    return value


def create_app(
    store: Store,
    hub: Hub | None = None,
    screen_min_people: int = SCREEN_MIN_PEOPLE,
    on_cameras_changed: Callable[[], None] | None = None,
) -> FastAPI:
    """The app over ``store``. Without a ``hub`` (no camera workers in this process) live
    routes report every camera as not yet heard from. ``on_cameras_changed`` is called after
    a camera is created, changed or deleted, so a supervisor can start or stop its worker."""
    if screen_min_people < 1:
        raise ValueError("screen_min_people must be at least 1")
    hub = hub if hub is not None else Hub()

    def changed() -> None:
        """The change is stored either way; a failing listener is logged, not a 500."""
        if on_cameras_changed is not None:
            try:
                on_cameras_changed()
            except Exception:
                log.exception("on_cameras_changed failed; the supervisor's poll will catch up")
    app = FastAPI(title="affectlens", version=__version__,
                  description="Privacy-first video analytics: cameras, events, live state, "
                              "blurred previews, statistics, health.")
    app.include_router(live_router(store, hub, screen_min_people))
    app.mount("/static", StaticFiles(directory=WEB), name="static")

    @app.get("/", include_in_schema=False)
    def dashboard() -> FileResponse:
        return FileResponse(WEB / "index.html")

    @app.get("/screen", include_in_schema=False)
    def screen_page() -> FileResponse:
        return FileResponse(WEB / "screen.html")

    def camera_or_404(camera_id: int) -> CameraOut:
        camera = store.camera(camera_id)
        if camera is None:
            raise HTTPException(404, f"no camera {camera_id}")
        return CameraOut.model_validate(camera)

    @app.get("/api/health")
    def health() -> dict:
        return {"status": "ok", "version": __version__, "cameras": len(store.cameras())}

    @app.get("/api/cameras")
    def list_cameras() -> list[CameraOut]:
        return [CameraOut.model_validate(c) for c in store.cameras()]

    @app.post("/api/cameras", status_code=201)
    def create_camera(camera: CameraIn) -> CameraOut:
        try:
            created = store.add_camera(camera.name, camera.url, camera.purpose,
                                       camera.analysis_fps)
        except StoreError as error:
            raise HTTPException(409, f"camera not created: {error}") from error
        changed()
        return CameraOut.model_validate(created)

    @app.get("/api/cameras/{camera_id}")
    def get_camera(camera_id: int) -> CameraOut:
        return camera_or_404(camera_id)

    @app.patch("/api/cameras/{camera_id}")
    def update_camera(camera_id: int, patch: CameraPatch) -> CameraOut:
        changes = patch.model_dump(exclude_none=True)
        try:
            updated = store.update_camera(camera_id, **changes)
        except StoreError as error:
            raise HTTPException(409, f"camera not changed: {error}") from error
        if updated is None:
            raise HTTPException(404, f"no camera {camera_id}")
        changed()
        return CameraOut.model_validate(updated)

    @app.delete("/api/cameras/{camera_id}", status_code=204)
    def delete_camera(camera_id: int) -> Response:
        if not store.delete_camera(camera_id):
            raise HTTPException(404, f"no camera {camera_id}")
        hub.forget(camera_id)
        changed()
        return Response(status_code=204)

    @app.get("/api/events")
    def list_events(
        camera_id: int | None = None,
        kind: Annotated[str | None, Query(max_length=32)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[EventOut]:
        events = store.events(camera_id, kind, _aware(since, "since"), _aware(until, "until"),
                              limit)
        return [EventOut.model_validate(e) for e in events]

    @app.post("/api/events/{event_id}/acknowledge")
    def acknowledge(event_id: int, body: Acknowledgement) -> EventOut:
        event = store.acknowledge(event_id, body.by, body.comment)
        if event is None:
            raise HTTPException(404, f"no event {event_id}")
        acknowledged = EventOut.model_validate(event)
        hub.publish_event(acknowledged.model_dump(mode="json"))  # other dashboards update
        return acknowledged

    return app
