"""The HTTP API (FastAPI; OpenAPI docs at /docs): cameras, events, health.

Routes are thin: they validate, call the Store, and turn its refusals into 4xx answers.
Authentication and roles arrive with the privacy work (issue 6); until then this API must
only listen on a trusted interface.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import FastAPI, HTTPException, Query, Response

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


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise HTTPException(422, f"{name} needs a time zone, e.g. 2026-11-27T10:00:00Z")
    return value


def create_app(store: Store) -> FastAPI:
    app = FastAPI(title="affectlens", version=__version__,
                  description="Privacy-first video analytics: cameras, events, health.")

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
        return CameraOut.model_validate(updated)

    @app.delete("/api/cameras/{camera_id}", status_code=204)
    def delete_camera(camera_id: int) -> Response:
        if not store.delete_camera(camera_id):
            raise HTTPException(404, f"no camera {camera_id}")
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
        return EventOut.model_validate(event)

    return app
