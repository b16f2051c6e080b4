"""Events: the list, an event's blurred snapshot and clip (each view audited), and
acknowledging one (audited, and pushed to every dashboard)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, Response
from pydantic import TypeAdapter

from affectlens.security.access import OPERATORS, READERS, requires
from affectlens.security.accounts import Principal
from affectlens.service.clips import CLIP_MEDIA_TYPE
from affectlens.service.deps import Caller, Services, ServicesDep
from affectlens.service.media import media_file
from affectlens.service.schemas import Acknowledgement, EventOut, RowId
from affectlens.service.times import ZonedTime

router = APIRouter()


EVENT_LIST = TypeAdapter(list[EventOut])


@router.get("/api/events", response_model=list[EventOut])
@requires(READERS)
async def list_events(
    services: ServicesDep,
    camera_id: RowId | None = None,
    kind: Annotated[str | None, Query(max_length=32)] = None,
    since: ZonedTime | None = None,
    until: ZonedTime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Times are ISO 8601 with a time zone (``2026-11-27T10:00:00Z``); anything else,
    a bare number included, is a 422 naming the parameter."""
    store = services.store

    def build() -> bytes:
        events = store.events(camera_id, kind, since, until, limit)
        return EVENT_LIST.dump_json([EventOut.model_validate(e) for e in events])

    return await services.answers.answer(("events", camera_id, kind, since, until, limit),
                                         build)


def event_media(services: Services, event_id: int, caller: Principal,
                what: Literal["snapshot", "clip"], media_type: str) -> FileResponse:
    """An event's blurred snapshot or clip, its view audited; only a file inside
    ``snapshots_dir`` is served, whatever path the database holds."""
    event = services.store.event(event_id)
    if event is None:
        raise HTTPException(404, f"no event {event_id}")
    path = media_file(services.snapshots_dir, getattr(event, what))
    if path is None:
        raise HTTPException(404, f"event {event_id} has no {what}")
    services.audit.append(caller.name, f"media.event_{what}", f"event:{event_id}")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": "no-store"})


@router.get("/api/events/{event_id}/snapshot.jpg", response_class=FileResponse,
            responses={200: {"content": {"image/jpeg": {}}}})
@requires(OPERATORS)
def event_snapshot(event_id: RowId, caller: Caller, services: ServicesDep) -> FileResponse:
    return event_media(services, event_id, caller, "snapshot", "image/jpeg")


@router.get("/api/events/{event_id}/clip.webm", response_class=FileResponse,
            responses={200: {"content": {CLIP_MEDIA_TYPE: {}}}})
@requires(OPERATORS)  # blurred video around a fall
def event_clip(event_id: RowId, caller: Caller, services: ServicesDep) -> FileResponse:
    """The blurred video of the seconds around a fall. Range requests (a <video>
    seeking) get 206 and the part asked for; each request is audited."""
    return event_media(services, event_id, caller, "clip", CLIP_MEDIA_TYPE)


@router.post("/api/events/{event_id}/acknowledge")
@requires(OPERATORS)
def acknowledge(event_id: RowId, body: Acknowledgement, caller: Caller,
                services: ServicesDep) -> EventOut:
    """Recorded under the caller's account name; ``by`` (a name typed on a shared
    screen) is kept beside it."""
    by = caller.name if body.by in (None, caller.name) else f"{body.by} ({caller.name})"
    event = services.store.acknowledge(event_id, by[:100], body.comment)
    if event is None:
        raise HTTPException(404, f"no event {event_id}")
    services.audit.append(caller.name, "event.acknowledge", f"event:{event_id}",
                          comment=body.comment)
    acknowledged = EventOut.model_validate(event)
    services.hub.publish_event(acknowledged.model_dump(mode="json"))  # other dashboards update
    return acknowledged
