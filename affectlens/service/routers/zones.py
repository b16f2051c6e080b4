"""The fall zones routes: a camera's zones and where they come from, and replacing the drawn
ones (affectlens/service/zones.py says which zones apply). Every change is written to the
audit log with the zones before and after."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from affectlens.security.access import ONLY_ADMIN, READERS, requires
from affectlens.service.camera_settings import parse_falls
from affectlens.service.deps import Caller, HubDep, ServicesDep, StoreDep, camera_or_404
from affectlens.service.hub import Hub
from affectlens.service.schemas import RowId, ZonesIn, ZonesOut
from affectlens.service.zones import ZONES, ZONES_CHANGE, drawn_zones, zones_json, zones_of
from affectlens.store.schema import Camera

router = APIRouter()


def _answer(camera: Camera, hub: Hub) -> ZonesOut:
    return zones_of(camera, parse_falls(camera.falls, camera.id), hub.frame_size(camera.id))


@router.get("/api/cameras/{camera_id}/zones")
@requires(READERS)  # polygons, no pixels
def get_zones(camera_id: RowId, store: StoreDep, hub: HubDep) -> ZonesOut:
    return _answer(camera_or_404(store, camera_id), hub)


@router.put("/api/cameras/{camera_id}/zones")
@requires(ONLY_ADMIN)
def put_zones(camera_id: RowId, body: ZonesIn, caller: Caller, services: ServicesDep
              ) -> ZonesOut:
    """Replaces the drawn zones; an empty list clears them."""
    before = camera_or_404(services.store, camera_id)
    camera = services.store.set_zones(camera_id, ZONES.dump_json(body.zones).decode()
                                      if body.zones else None)
    if camera is None:
        raise HTTPException(404, f"no camera {camera_id}")
    services.audit.append(caller.name, ZONES_CHANGE, f"camera:{camera_id}", changes={
        "zones": [zones_json(drawn_zones(before)), zones_json(drawn_zones(camera))]})
    services.cameras_changed()
    return _answer(camera, services.hub)
