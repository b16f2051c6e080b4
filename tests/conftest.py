"""Shared fixtures: the models (loaded once per session), real media, synthetic media.

Real media lives outside the repository, in ../shared/data/media; tests that need it skip
cleanly where it is absent (a fresh clone). Synthetic media is made in temporary folders
from matplotlib's public-domain Grace Hopper portrait, so those tests need nothing else.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import sqlalchemy as sa

import affectlens
from affectlens import AnalysisConfig, samples
from affectlens.eval.falls import rgb_half
from affectlens.pipeline import Models, Pipeline
from affectlens.store import Store
from affectlens.store.db import sqlite_url

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
MEDIA_DIR = DATA_DIR / "media"


@pytest.fixture(scope="session")
def media_dir() -> Path:
    if not MEDIA_DIR.is_dir():
        pytest.skip(f"shared media not present at {MEDIA_DIR}")
    return MEDIA_DIR


@pytest.fixture(scope="session")
def media(media_dir: Path) -> Callable[[str], Path]:
    """media("name.mp4") -> its path; skips the test if that one file is missing."""

    def find(name: str) -> Path:
        path = media_dir / name
        if not path.is_file():
            pytest.skip(f"shared media file missing: {path}")
        return path

    return find


@pytest.fixture(scope="session")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """dataset("ckplus48") -> the unpacked folder of ../shared/data/ckplus48.tar.gz (once per
    session, in a temporary folder); skips the test where the archive is absent."""
    unpacked: dict[str, Path] = {}

    def unpack(archive: str) -> Path:
        path = DATA_DIR / f"{archive}.tar.gz"
        if not path.is_file():
            pytest.skip(f"shared dataset not present: {path}")
        if archive not in unpacked:
            target = tmp_path_factory.mktemp(archive)
            with tarfile.open(path) as tar:
                tar.extractall(target, filter="data")
            (folder,) = [p for p in target.iterdir() if p.is_dir()]
            unpacked[archive] = folder
        return unpacked[archive]

    return unpack


@pytest.fixture(scope="session")
def models() -> Models:
    """Detector, expression and age models with the default (CPU) settings, loaded once."""
    return Models.load(AnalysisConfig())


@pytest.fixture(scope="session")
def pipeline_for(models: Models) -> Callable[..., Pipeline]:
    """pipeline_for(fps=8) -> a Pipeline sharing the session's models.

    Only settings that do not change the models may be passed (fps, smoothing, tracking, image
    size...); min_face_px, face_score_threshold, device, threads and precision need their own
    Models.
    """
    model_keys = {"device", "min_face_px", "face_score_threshold", "threads", "precision"}

    def make(**settings: object) -> Pipeline:
        assert not model_keys & settings.keys(), "these settings need their own Models"
        return Pipeline(AnalysisConfig(**settings), models=models)

    return make


@pytest.fixture(scope="session")
def pipeline(pipeline_for: Callable[..., Pipeline]) -> Pipeline:
    """Default settings: every frame of a video analysed."""
    return pipeline_for()


@pytest.fixture(scope="session")
def wolfgang(media, pipeline: Pipeline) -> tuple[Path, affectlens.Result]:
    """One woman: crying at the start, laughing at the end. Every frame analysed, once."""
    path = media("WolfgangLanger_Pexels.mp4")
    return path, affectlens.analyze(path, pipeline=pipeline)


@pytest.fixture(scope="session")
def fall_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """URFD fall-01's RGB half, then its last frame held for 4 s (a still scene after the
    fall), as a 320x240 video at 30 fps."""
    source = DATA_DIR / "falls" / "fall-01-cam0.mp4"
    if not source.is_file():
        pytest.skip(f"shared fall clip not present: {source}")
    out = tmp_path_factory.mktemp("falls") / "fall-01-rgb.mp4"
    cap = cv2.VideoCapture(str(source))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (320, 240))
    last = None
    while (read := cap.read())[0]:
        last = rgb_half(read[1])
        writer.write(last)
    for _ in range(120):
        writer.write(last)
    writer.release()
    return out


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    """Grace Hopper's 1984 portrait (public domain, matplotlib sample data), BGR uint8."""
    return samples.portrait()


# The store's databases. PostgreSQL comes from AFFECTLENS_TEST_POSTGRES_URL (.ci/run starts a
# server and sets it). Without it the PostgreSQL cases skip, unless AFFECTLENS_REQUIRE_SERVICES=1
# (as in CI), when they fail: CI must never pass by skipping them.


def _postgres_url() -> str:
    url = os.environ.get("AFFECTLENS_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("AFFECTLENS_REQUIRE_SERVICES") == "1":
            pytest.fail("AFFECTLENS_TEST_POSTGRES_URL is not set but services are required")
        pytest.skip("no PostgreSQL: set AFFECTLENS_TEST_POSTGRES_URL (see .ci/run)")
    engine = sa.create_engine(url)
    with engine.begin() as connection:  # an empty database for each test
        connection.execute(sa.text("DROP SCHEMA public CASCADE"))
        connection.execute(sa.text("CREATE SCHEMA public"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "affectlens.db")
    return _postgres_url()


@pytest.fixture
def store(url: str) -> Store:
    store = Store(url)
    yield store
    store.engine.dispose()
