"""The HTTP API (FastAPI; its OpenAPI document at /openapi.json) and the dashboard it serves.

``create_app`` only assembles: it puts the shared ``Services`` on ``app.state`` (the routes
read them through ``service.deps``), includes the module-level routers of
``service.routers`` (one per resource), mounts the dashboard's static files and puts the
security guard in front. The dashboard (``/``) and the entrance screen (``/screen``) are
static files from ``web/`` that only call this API.
Routes are thin: they validate, call the Store, and turn its refusals into 4xx answers.
Every request passes the security guard first (affectlens.security.guard): it answers 401
without a login, 403 to a role the matched route does not declare (``access.requires``;
a route that declares none is refused to all), and adds the security headers. Changes and
media views are written to the hash-chained audit log.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from affectlens.privacy.policy import refusal
from affectlens.security.access import EVERY_ROLE, READERS, requires
from affectlens.security.accounts import Accounts
from affectlens.security.audit import AuditLog
from affectlens.security.guard import Guard, SecuritySettings
from affectlens.security.throttle import AttemptLimiter
from affectlens.service.answers import Answers
from affectlens.service.deps import Services
from affectlens.service.hub import Hub
from affectlens.service.routers import ROUTERS
from affectlens.service.routers.health import metrics_router
from affectlens.service.routers.pages import WEB
from affectlens.store import Store
from affectlens.version import __version__

SCREEN_MIN_PEOPLE = 5


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


async def unprocessable(_request: Request, error: RequestValidationError) -> JSONResponse:
    """Every 422 in one shape: hard lines explained, secrets not echoed, valid JSON."""
    return JSONResponse(status_code=422, content={
        "detail": json_safe(jsonable_encoder(
            without_secrets(explain_hard_lines(list(error.errors())))))})


def create_app(
    store: Store,
    hub: Hub | None = None,
    screen_min_people: int = SCREEN_MIN_PEOPLE,
    on_cameras_changed: Callable[[], None] | None = None,
    security: SecuritySettings | None = None,
    snapshots_dir: Path | None = None,
    on_replay: Callable[[], None] | None = None,
    metrics: Callable[[], bytes] | None = None,
) -> FastAPI:
    """The app over ``store``. Without a ``hub`` (no camera workers in this process) live
    routes report every camera as not yet heard from. ``on_cameras_changed`` is called after
    a camera is created, changed or deleted, so a supervisor can start or stop its worker.
    Nobody gets in until an account exists (``affectlens user add``) or a token
    (``affectlens token add``). ``snapshots_dir`` is where workers write events' blurred
    snapshots (the site's ``snapshots_dir``); without it event snapshots are a 404.
    ``on_replay`` is called after an admin replays a
    dead letter (routers/dead_letters.py), to wake the alert dispatcher. ``metrics`` makes
    the Prometheus exposition that ``/metrics`` serves; without it there is no ``/metrics``."""
    if screen_min_people < 1:
        raise ValueError("screen_min_people must be at least 1")
    security = security or SecuritySettings()
    accounts = Accounts(store, security.policy, security.clock, security.principal_cache_s)
    app = FastAPI(title="affectlens", version=__version__,
                  description="Privacy-first video analytics: cameras, events, live state, "
                              "blurred previews, statistics, health.",
                  docs_url=None, redoc_url=None)  # their pages need inline script (CSP)
    app.state.services = Services(
        store=store, hub=hub if hub is not None else Hub(), accounts=accounts,
        audit=AuditLog(store, security.clock),
        login_limiter=AttemptLimiter(security.login_attempts_per_minute),
        camera_tests=AttemptLimiter(security.camera_tests_per_minute), answers=Answers(store),
        screen_min_people=screen_min_people, snapshots_dir=snapshots_dir,
        on_cameras_changed=on_cameras_changed, on_replay=on_replay, metrics=metrics)
    app.add_exception_handler(RequestValidationError, unprocessable)  # type: ignore[arg-type]
    app.add_middleware(Guard, routes=lambda: app.router.routes, accounts=accounts,
                       settings=security)
    for router in ROUTERS:
        app.include_router(router)
    # The dashboard's scripts: code, no data (the login page's two files are open).
    app.mount("/static", requires(EVERY_ROLE)(StaticFiles(directory=WEB)), name="static")
    schema = next(r for r in app.router.routes if getattr(r, "path", None) == app.openapi_url)
    requires(READERS)(schema.endpoint)  # FastAPI's own route: its rule is set here
    if metrics is not None:
        app.include_router(metrics_router)
    return app
