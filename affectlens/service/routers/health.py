"""``/api/health`` for load balancers and start-up checks, and ``/metrics`` for Prometheus
(only where ``create_app`` is given the exposition: ``affectlens serve`` gives it)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from affectlens.security.access import SCRAPERS, requires
from affectlens.service.deps import ServicesDep, StoreDep
from affectlens.version import __version__

router = APIRouter()
metrics_router = APIRouter()


@router.get("/api/health")  # open: access.OPEN_PATHS
def health(request: Request, store: StoreDep) -> dict:
    """Open, for load balancers and start-up checks; details only with a login."""
    if request.scope.get("state", {}).get("principal") is None:
        return {"status": "ok"}
    return {"status": "ok", "version": __version__, "cameras": len(store.cameras())}


@metrics_router.get("/metrics", include_in_schema=False)
@requires(SCRAPERS)
def scrape(services: ServicesDep) -> Response:
    exposition = services.metrics() if services.metrics is not None else b""
    return Response(exposition, media_type=CONTENT_TYPE_LATEST)
