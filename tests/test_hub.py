"""The hub carries camera state and events from worker threads to asyncio subscribers."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime

from affectlens.service.hub import SUBSCRIBER_QUEUE, CameraLive, Hub


def _state(camera_id: int, online: bool = True) -> CameraLive:
    return CameraLive(camera_id, online, "" if online else "timeout", 5.0, 1,
                      datetime.now(UTC))


def test_a_subscriber_hears_a_thread_publish_in_order() -> None:
    hub = Hub()

    async def listen() -> list[dict]:
        received = []
        stream = hub.subscribe()
        first = asyncio.ensure_future(anext(stream))
        while hub.subscribers() == 0:
            await asyncio.sleep(0.01)
        writer = threading.Thread(target=lambda: [
            hub.set_state(_state(1, online=False)), hub.publish_event({"id": 7})])
        writer.start()
        received.append(await asyncio.wait_for(first, 5))
        received.append(await asyncio.wait_for(anext(stream), 5))
        writer.join()
        await stream.aclose()
        return received

    camera, event = asyncio.run(listen())
    assert camera["type"] == "camera" and camera["camera"]["online"] is False
    assert camera["camera"]["message"] == "timeout"
    assert event == {"type": "event", "event": {"id": 7}}
    assert hub.subscribers() == 0  # closing the stream unsubscribes


def test_a_slow_subscriber_keeps_the_newest_messages() -> None:
    hub = Hub()

    async def flood() -> list[dict]:
        stream = hub.subscribe()
        first = asyncio.ensure_future(anext(stream))
        while hub.subscribers() == 0:
            await asyncio.sleep(0.01)
        for i in range(SUBSCRIBER_QUEUE + 10):
            hub.publish_event({"id": i})
        await asyncio.sleep(0.05)  # let the loop run the queued puts
        received = [await first]
        received += [await anext(stream) for _ in range(SUBSCRIBER_QUEUE - 1)]
        await stream.aclose()
        return received

    received = asyncio.run(flood())
    # The oldest ten went, the rest came in order, none twice: the newest are kept.
    assert [m["event"]["id"] for m in received] == list(range(10, SUBSCRIBER_QUEUE + 10))


def test_state_and_preview_are_kept_per_camera_and_forgotten() -> None:
    hub = Hub()
    hub.set_state(_state(2))
    hub.set_state(_state(1))
    hub.set_preview(1, b"\xff\xd8jpeg")
    assert [s.camera_id for s in hub.states()] == [1, 2]
    assert hub.preview(1) == b"\xff\xd8jpeg" and hub.preview(2) is None
    hub.forget(1)
    assert hub.state(1) is None and hub.preview(1) is None and hub.state(2) is not None
