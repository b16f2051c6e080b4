"""The dashboard (``/``), the entrance screen (``/screen``) and the login page: static files
from ``web/`` that only call the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from affectlens.security.access import EVERY_ROLE, OPERATORS, requires

WEB = Path(__file__).resolve().parent.parent / "web"
router = APIRouter()


@router.get("/", include_in_schema=False)
@requires(OPERATORS)
def dashboard() -> FileResponse:
    return FileResponse(WEB / "index.html")


@router.get("/login", include_in_schema=False)  # open: access.OPEN_PATHS
def login_page() -> FileResponse:
    return FileResponse(WEB / "login.html")


@router.get("/screen", include_in_schema=False)
@requires(EVERY_ROLE)
def screen_page() -> FileResponse:
    return FileResponse(WEB / "screen.html")
