"""What the API's routes are given (FastAPI dependencies): the store, the hub, the audit log,
the account store, the caller, and the few settings of this app.

``create_app`` builds one ``Services`` and puts it on ``app.state`` once; the routers
(affectlens/service/routers/) are plain module-level objects that read it through these
dependencies, so a route's needs show in its signature and no route is made inside a
closure. The dependencies are ``async`` on purpose: they only read attributes, and a sync one
would cost a worker-thread hop on every request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection

from affectlens.security.accounts import Accounts, Principal
from affectlens.security.audit import AuditLog
from affectlens.security.guard import principal_of
from affectlens.security.throttle import AttemptLimiter
from affectlens.service.answers import Answers
from affectlens.service.hub import Hub
from affectlens.store import Store
from affectlens.store.schema import Camera

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """Everything the routes share, made once per app by ``create_app``."""

    store: Store
    hub: Hub
    accounts: Accounts
    audit: AuditLog
    login_limiter: AttemptLimiter  # password attempts, per client address
    camera_tests: AttemptLimiter  # connection tests, one budget for the whole service
    answers: Answers  # read-only JSON answers kept until the next write (service.answers)
    screen_min_people: int
    snapshots_dir: Path | None  # events' blurred snapshots and clips; None: a 404
    on_cameras_changed: Callable[[], None] | None = None
    on_replay: Callable[[], None] | None = None  # wakes the alert dispatcher
    metrics: Callable[[], bytes] | None = None  # the Prometheus exposition; None: no /metrics

    def cameras_changed(self) -> None:
        """Tells the supervisor; the change is stored either way, so a failing listener is
        logged, not a 500."""
        if self.on_cameras_changed is not None:
            try:
                self.on_cameras_changed()
            except Exception:
                log.exception("on_cameras_changed failed; the supervisor's poll will catch up")


async def services(connection: HTTPConnection) -> Services:
    return connection.app.state.services


async def store(connection: HTTPConnection) -> Store:
    return (await services(connection)).store


async def hub(connection: HTTPConnection) -> Hub:
    return (await services(connection)).hub


async def audit(connection: HTTPConnection) -> AuditLog:
    return (await services(connection)).audit


async def accounts(connection: HTTPConnection) -> Accounts:
    return (await services(connection)).accounts


ServicesDep = Annotated[Services, Depends(services)]
StoreDep = Annotated[Store, Depends(store)]
HubDep = Annotated[Hub, Depends(hub)]
AuditDep = Annotated[AuditLog, Depends(audit)]
AccountsDep = Annotated[Accounts, Depends(accounts)]
Caller = Annotated[Principal, Depends(principal_of)]  # the caller the guard let in


def camera_or_404(store: Store, camera_id: int) -> Camera:
    camera = store.camera(camera_id)
    if camera is None:
        raise HTTPException(404, f"no camera {camera_id}")
    return camera
