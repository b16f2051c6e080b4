"""The live half of the API: camera state, blurred previews, connection tests, per-minute
statistics, the entrance screen's aggregates and the websocket.

Everything live is read from the Hub, which camera workers feed; previews arrive there
already blurred, and this module serves them as they are. The entrance screen shows counts
over all cameras only when at least ``min_people`` people were seen, and otherwise nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import queue
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, WebSocket
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter
from starlette.websockets import WebSocketDisconnect

from affectlens.privacy.policy import redact_url
from affectlens.security.access import EVERY_ROLE, ONLY_ADMIN, OPERATORS, READERS, requires
from affectlens.security.accounts import Principal
from affectlens.service.camera import CameraState, LiveCamera
from affectlens.service.deps import (
    AuditDep,
    Caller,
    HubDep,
    Services,
    ServicesDep,
    StoreDep,
    camera_or_404,
)
from affectlens.service.hub import Hub
from affectlens.service.schemas import (
    CameraLiveOut,
    ConnectionTestIn,
    ConnectionTestOut,
    RowId,
    ScreenOut,
    StatsSeries,
)
from affectlens.store import Store
from affectlens.store.schema import AGE_BAND_COLUMNS, EXPRESSION_COUNT_COLUMNS
from affectlens.types import AGE_BANDS

log = logging.getLogger(__name__)
BOUNDARY = "frame"
KEEPALIVE_S = 5.0  # an unchanged preview is sent again this often, so proxies keep the stream
_BANDS = dict(zip(AGE_BAND_COLUMNS, (name for name, _, _ in AGE_BANDS)))
_EXPRESSIONS = {column: column.removeprefix("n_") for column in EXPRESSION_COUNT_COLUMNS}
# An admin's connection test opens any URL from this host: told apart, "refused", "no route"
# and "timed out" would map the site's internal network. Every failure reads the same and
# takes the whole timeout; the reason goes to the service log.
TEST_FAILED = ("no frames within the timeout: the address may not exist, be unreachable, "
               "refuse the connection, need other credentials, or not be a supported stream; "
               "the reason is in the service log")
TESTS_KEY = "camera-tests"  # one budget for the whole service: extra admin tokens add none
router = APIRouter()


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def check_connection(url: str, timeout_s: float) -> ConnectionTestOut:
    """Open ``url`` exactly as a camera worker would (a LiveCamera) and wait for its first
    frame or its first failure, at most ``timeout_s`` seconds; never retries."""
    states: queue.Queue[CameraState] = queue.Queue()
    camera = LiveCamera(url, analysis_fps=30.0, on_state=states.put, io_timeout_s=timeout_s,
                        backoff_s=(3600.0,))
    started = time.monotonic()
    camera.start()
    try:
        state = states.get(timeout=timeout_s + 1.0)
        frame = camera.next_frame(timeout=2.0) if state.online else None
    except queue.Empty:
        return ConnectionTestOut(ok=False, message=f"no frame and no answer within {timeout_s:g} s",
                                 seconds=round(time.monotonic() - started, 3))
    finally:
        camera.stop(timeout=1.0)
    elapsed = round(time.monotonic() - started, 3)
    if not state.online:
        return ConnectionTestOut(ok=False, message=state.message, seconds=elapsed)
    height, width = frame.image.shape[:2] if frame is not None else (None, None)
    return ConnectionTestOut(ok=True, message="receiving frames", width=width, height=height,
                             seconds=elapsed)


def minute_series(store: Store, camera_id: int, hours: float) -> StatsSeries:
    """The camera's MinuteStats rows as regular per-minute lists, missing minutes as zeros."""
    until = _minute(datetime.now(UTC)) + timedelta(minutes=1)
    count = max(1, round(hours * 60))
    since = until - timedelta(minutes=count)
    rows = {row.minute: row for row in store.minute_stats(camera_id, since, until)}
    minutes = [since + timedelta(minutes=i) for i in range(count)]

    def series(column: str) -> list[int]:
        return [int(getattr(rows[m], column)) if m in rows else 0 for m in minutes]

    return StatsSeries(
        camera_id=camera_id, since=since, until=until, minutes=minutes,
        faces=series("faces"), people=series("people"),
        expressions={name: series(column) for column, name in _EXPRESSIONS.items()},
        age_bands={name: series(column) for column, name in _BANDS.items()},
    )


def fewest_people(store: Store, since: datetime) -> int:
    """A count of different people the store can vouch for since ``since``: the most seen by
    one camera in one minute. Per-minute counts summed over minutes (``totals``) count one
    person who stays five minutes five times, so they cannot decide whether k were seen."""
    until = _minute(datetime.now(UTC)) + timedelta(minutes=1)
    return max((row.people for camera in store.cameras()
                for row in store.minute_stats(camera.id, since, until)), default=0)


def screen_figures(store: Store, min_people: int) -> ScreenOut:
    """This hour's aggregates over all cameras, or only a flag unless ``min_people``
    different people were surely among them."""
    since = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if fewest_people(store, since) < min_people:
        return ScreenOut(enough=False, min_people=min_people, since=since)
    totals = store.totals(since)
    people = int(totals.get("people", 0))
    return ScreenOut(
        enough=True, min_people=min_people, since=since, people=people,
        age_bands={name: int(totals.get(column, 0)) for column, name in _BANDS.items()},
        expressions={name: int(totals.get(column, 0)) for column, name in _EXPRESSIONS.items()},
    )


async def mjpeg(hub: Hub, camera_id: int, fps: float, frames: int | None,
                request: Request) -> AsyncIterator[bytes]:
    """The hub's newest preview for a camera as multipart parts, each new one once."""
    sent: bytes | None = None
    sent_at, count = 0.0, 0
    while frames is None or count < frames:
        if await request.is_disconnected():
            return
        jpeg = hub.preview(camera_id)
        if jpeg is not None and (jpeg is not sent or time.monotonic() - sent_at > KEEPALIVE_S):
            head = (f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\n\r\n").encode()
            yield head + jpeg + b"\r\n"
            sent, sent_at, count = jpeg, time.monotonic(), count + 1
        await asyncio.sleep(1.0 / fps)


async def _until_closed(websocket: WebSocket) -> None:
    """Reads (and ignores) what the client sends, text or bytes; returns when it leaves."""
    with contextlib.suppress(WebSocketDisconnect):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass


async def push_live(websocket: WebSocket, hub: Hub,
                    hello: Callable[[], dict[str, Any]]) -> None:
    """Sends ``hello()`` once subscribed (so nothing published after it is missed), then every
    hub message until the client goes away, as the text the hub encoded once for all."""
    await websocket.accept()
    stream = hub.subscribe_published()
    following = asyncio.ensure_future(anext(stream))
    closed = asyncio.ensure_future(_until_closed(websocket))
    try:
        for _ in range(3):  # let subscribe() register before the first state is read
            await asyncio.sleep(0)
        await websocket.send_json(hello())
        while True:
            done, _ = await asyncio.wait({following, closed},
                                         return_when=asyncio.FIRST_COMPLETED)
            if closed in done:
                return
            await websocket.send_text(following.result()[1])
            following = asyncio.ensure_future(anext(stream))
    except (WebSocketDisconnect, RuntimeError):
        return  # the client left while we were sending
    finally:
        for task in (following, closed):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await following
        await stream.aclose()


def connection_test(services: Services, url: str, timeout_s: float, caller: Principal,
                    target: str) -> ConnectionTestOut:
    """A test within the budget (at most ``camera_tests_per_minute``, then 429), audited
    with its outcome; a failure in the uniform words, answered once the whole timeout has
    passed."""
    tests = services.camera_tests
    wait = tests.attempt(TESTS_KEY)
    if wait:
        log.warning("connection test by %s refused: over %d a minute", caller.name,
                    tests.per_minute)
        raise HTTPException(429, f"at most {tests.per_minute} connection tests a minute",
                            headers={"Retry-After": str(math.ceil(wait))})
    started = time.monotonic()
    result = check_connection(url, timeout_s)
    services.audit.append(caller.name, "camera.test", target, url=redact_url(url), ok=result.ok)
    if result.ok:
        return result
    log.info("connection test of %s by %s failed: %s", redact_url(url), caller.name,
             result.message)
    time.sleep(max(0.0, timeout_s - (time.monotonic() - started)))
    return ConnectionTestOut(ok=False, message=TEST_FAILED,
                             seconds=round(time.monotonic() - started, 1))


def live_of(hub: Hub, camera_id: int, name: str) -> CameraLiveOut:
    state = hub.state(camera_id)
    if state is None:
        return CameraLiveOut(camera_id=camera_id, name=name, online=None,
                             message="no report from this camera's worker yet",
                             analysed_fps=0.0, faces=0, at=None)
    return CameraLiveOut(camera_id=camera_id, name=name, online=state.online,
                         message=state.message, analysed_fps=state.analysed_fps,
                         faces=state.faces, at=state.at, node=state.node or None)


LIVE_LIST = TypeAdapter(list[CameraLiveOut])


@router.get("/api/live", response_model=list[CameraLiveOut])
@requires(OPERATORS)
async def all_live(services: ServicesDep) -> Response:
    # Built once per change of a camera's state (the hub's version) or of the store, and
    # sent as the same bytes to every caller until then (service.answers).
    store, hub = services.store, services.hub

    def build() -> bytes:
        return LIVE_LIST.dump_json([live_of(hub, c.id, c.name) for c in store.cameras()])

    return await services.answers.answer(("live", hub.version), build)


@router.get("/api/cameras/{camera_id}/live")
@requires(OPERATORS)
def camera_live(camera_id: RowId, store: StoreDep, hub: HubDep) -> CameraLiveOut:
    return live_of(hub, camera_id, camera_or_404(store, camera_id).name)


# Blurred still pictures of people: operators only. Every view is audited (repeats coalesced).
@router.get("/api/cameras/{camera_id}/snapshot.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})
@requires(OPERATORS)
def snapshot(camera_id: RowId, caller: Caller, store: StoreDep, hub: HubDep,
             audit: AuditDep) -> Response:
    name = camera_or_404(store, camera_id).name
    jpeg = hub.preview(camera_id)
    if jpeg is None:
        raise HTTPException(503, f"no preview from camera {camera_id} ({name}) yet: it is "
                                 "offline, starting, or not analysed by this process",
                            headers={"Retry-After": "2"})
    audit.media_viewed(caller.name, "snapshot", camera_id)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/api/cameras/{camera_id}/preview.mjpeg", response_class=StreamingResponse)
@requires(OPERATORS)
def preview(
    camera_id: RowId, request: Request, caller: Caller, store: StoreDep, hub: HubDep,
    audit: AuditDep,
    fps: Annotated[float, Query(gt=0, le=10)] = 4.0,
    frames: Annotated[int | None, Query(ge=1)] = None,
) -> StreamingResponse:
    camera_or_404(store, camera_id)
    audit.media_viewed(caller.name, "mjpeg", camera_id)
    return StreamingResponse(
        mjpeg(hub, camera_id, fps, frames, request),
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


@router.post("/api/cameras/test")
@requires(ONLY_ADMIN)
def test_url(body: ConnectionTestIn, caller: Caller, services: ServicesDep
             ) -> ConnectionTestOut:
    """Opens a stream from this host: an admin's tool, and it reaches whatever this host
    reaches, so a failure says only that it failed (docs/security.md)."""
    return connection_test(services, body.url, body.timeout_s, caller, "url")


@router.post("/api/cameras/{camera_id}/test")
@requires(ONLY_ADMIN)
def test_camera(camera_id: RowId, caller: Caller, services: ServicesDep,
                timeout_s: Annotated[float, Query(gt=0, le=30)] = 5.0) -> ConnectionTestOut:
    url = camera_or_404(services.store, camera_id).url
    return connection_test(services, url, timeout_s, caller, f"camera:{camera_id}")


@router.get("/api/cameras/{camera_id}/stats")
@requires(READERS)
def stats(camera_id: RowId, store: StoreDep,
          hours: Annotated[float, Query(gt=0, le=168)] = 3.0) -> StatsSeries:
    camera_or_404(store, camera_id)
    return minute_series(store, camera_id, hours)


@router.get("/api/screen")
@requires(EVERY_ROLE)
def screen(services: ServicesDep) -> ScreenOut:
    return screen_figures(services.store, services.screen_min_people)


@router.websocket("/api/ws")
@requires(OPERATORS)
async def live_socket(websocket: WebSocket, hub: HubDep) -> None:
    await push_live(websocket, hub, lambda: {
        "type": "hello", "cameras": [s.to_json() for s in hub.states()]})

