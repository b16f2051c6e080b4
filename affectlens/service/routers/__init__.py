"""The API's routers, one per resource, each a module-level ``router`` whose routes declare
who may call them (``security.access.requires``) and get what they need from
``service.deps``. ``create_app`` includes them in this order, which is the order of the
OpenAPI document and docs/api.md (no method and path match two of their routes, so
matching does not depend on it)."""

from __future__ import annotations

from fastapi import APIRouter

from affectlens.service.routers import (
    accounts,
    cameras,
    dead_letters,
    events,
    health,
    live,
    pages,
    zones,
)

ROUTERS: tuple[APIRouter, ...] = (accounts.router, live.router, zones.router,
                                  dead_letters.router, pages.router, health.router,
                                  cameras.router, events.router)
