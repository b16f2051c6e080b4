"""The in-process meeting point between the cameras' side and the web side.

Camera workers (through the supervisor) write into the hub: each camera's live state, its
newest blurred preview JPEG, and events as they start and end. The API reads it: the live
state and preview routes, and websockets, which subscribe and receive every message as it
is published. Writers are threads; subscribers are asyncio tasks, so a message crosses into
each subscriber's event loop with ``call_soon_threadsafe``. A slow subscriber loses its
oldest messages rather than holding up a camera. Listeners (``listen``: Home Assistant's
states) are called in the writer's thread, and must be quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

SUBSCRIBER_QUEUE = 256
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CameraLive:
    """What the dashboard shows for a camera right now."""

    camera_id: int
    online: bool
    message: str  # why it is offline, or "" when online
    analysed_fps: float  # frames analysed per second, recently
    faces: int  # faces in the newest analysed frame
    at: datetime  # aware UTC time of this state
    node: str = ""  # where its worker runs (a host name or a cluster node); "" not yet known

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat()}


# A message as published, and its JSON text: encoded once in the writer's thread, so that a
# thousand websockets cost one encoding, not a thousand (issue 17 item 3).
Published = tuple[dict[str, Any], str]


class _Subscriber:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Published] = asyncio.Queue(SUBSCRIBER_QUEUE)

    def put(self, message: Published) -> None:
        """Runs in the subscriber's loop: drop the oldest message when the queue is full."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(message)


class Hub:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[int, CameraLive] = {}
        self._previews: dict[int, bytes] = {}
        self._frame_sizes: dict[int, tuple[int, int]] = {}
        self._subscribers: list[_Subscriber] = []
        self._listeners: list[Callable[[dict[str, Any]], None]] = []
        self.version = 0  # moves whenever a camera's state changes or is forgotten

    def set_state(self, state: CameraLive) -> None:
        with self._lock:
            self._states[state.camera_id] = state
            self.version += 1
        self._broadcast({"type": "camera", "camera": state.to_json()})

    def set_preview(self, camera_id: int, jpeg: bytes,
                    frame_size: tuple[int, int] | None = None) -> None:
        """``jpeg`` must already be blurred: the hub serves it as it is. ``frame_size``:
        the analysed frame's (width, height) when the JPEG was made smaller."""
        with self._lock:
            self._previews[camera_id] = jpeg
            if frame_size is None:
                self._frame_sizes.pop(camera_id, None)
            else:
                self._frame_sizes[camera_id] = frame_size

    def publish_event(self, event: dict[str, Any]) -> None:
        """An event as the API shows it (``EventOut`` as JSON), when it starts and ends."""
        self._broadcast({"type": "event", "event": event})

    def forget(self, camera_id: int) -> None:
        with self._lock:
            self._states.pop(camera_id, None)
            self.version += 1
            self._previews.pop(camera_id, None)
            self._frame_sizes.pop(camera_id, None)

    def state(self, camera_id: int) -> CameraLive | None:
        with self._lock:
            return self._states.get(camera_id)

    def states(self) -> list[CameraLive]:
        with self._lock:
            return sorted(self._states.values(), key=lambda s: s.camera_id)

    def preview(self, camera_id: int) -> bytes | None:
        with self._lock:
            return self._previews.get(camera_id)

    def frame_size(self, camera_id: int) -> tuple[int, int] | None:
        """(width, height) of the frame behind the newest preview; None: the preview's own."""
        with self._lock:
            return self._frame_sizes.get(camera_id)

    async def subscribe(self) -> AsyncIterator[dict[str, Any]]:
        """Every message published from now on, until the caller stops iterating."""
        published = self.subscribe_published()
        try:
            async for message, _ in published:
                yield message
        finally:
            await published.aclose()  # unsubscribed now, not when collected

    async def subscribe_published(self) -> AsyncIterator[Published]:
        """``subscribe``, each message with its JSON text (what a websocket sends)."""
        subscriber = _Subscriber(asyncio.get_running_loop())
        with self._lock:
            self._subscribers.append(subscriber)
        try:
            while True:
                yield await subscriber.queue.get()
        finally:
            with self._lock:
                self._subscribers.remove(subscriber)

    def listen(self, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with every message from now on, in the writer's thread; what
        it raises is logged, and the camera's side goes on."""
        with self._lock:
            self._listeners.append(listener)

    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def _broadcast(self, message: dict[str, Any]) -> None:
        with self._lock:
            subscribers = list(self._subscribers)
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(message)
            except Exception:
                log.exception("hub listener %r failed", listener)
        if not subscribers:
            return
        published = (message, json.dumps(message, separators=(",", ":"), ensure_ascii=False))
        for subscriber in subscribers:
            # A closed loop raises; its subscriber is removed by subscribe()'s finally.
            with contextlib.suppress(RuntimeError):
                subscriber.loop.call_soon_threadsafe(subscriber.put, published)
