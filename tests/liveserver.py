"""Helpers for tests of the live web side: the real app served by uvicorn on a free port,
and blurred preview JPEGs made from real frames with the package's own detector and blur."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import uvicorn
from fastapi import FastAPI
from netutil import free_port

from affectlens.models.face_detector import FaceDetector
from affectlens.privacy.blur import blur_faces


def blurred_jpeg(image: np.ndarray, detector: FaceDetector) -> bytes:
    """``image`` with every face the detector finds blurred, as JPEG; fails if it finds none
    (the test would prove nothing) or still finds one after blurring."""
    (faces,) = detector.predict([image])
    assert len(faces.boxes) >= 1, "the test frame shows no face to blur"
    ok, jpeg = cv2.imencode(".jpg", blur_faces(image, faces.boxes))
    assert ok
    assert faces_in_jpeg(jpeg.tobytes(), detector) == 0
    return jpeg.tobytes()


def faces_in_jpeg(jpeg: bytes, detector: FaceDetector) -> int:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return len(detector.predict([image])[0].boxes)


class LiveServer:
    """``app`` served by uvicorn in a thread on 127.0.0.1 (HTTP and websockets)."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                ws="websockets-sansio", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)
