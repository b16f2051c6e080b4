"""Joining a Ray cluster: the one place that imports ray, with a clear error without it."""

from __future__ import annotations

import logging
from types import ModuleType

from affectlens.errors import AffectlensError
from affectlens.service.site import check_cluster_address

log = logging.getLogger(__name__)


class ClusterError(AffectlensError):
    """The cluster cannot be used; the message says why and what to do."""


def require_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ClusterError("a cluster needs Ray: pip install 'affectlens[cluster]'") from None
    return ray


def connect(address: str) -> bool:
    """Join the cluster at ``address`` as a driver unless this process has already (a test's
    cluster); returns whether it joined here (and so should leave: ``disconnect``)."""
    ray = require_ray()
    if ray.is_initialized():
        return False
    try:
        ray.init(address=check_cluster_address(address), logging_level=logging.WARNING,
                 configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterError(f"cannot join the Ray cluster at {address}: {error}") from None
    log.info("joined the Ray cluster at %s: %s", address, ray.cluster_resources())
    return True


def disconnect(joined: bool) -> None:
    if joined:
        require_ray().shutdown()
