"""Which camera moves when a node joins the cluster: a pure plan, one move at a time.

Ray places each camera's actor when it starts (spreading them over the nodes) and never
moves a running one, so a node that joins later would stay idle until a camera restarts.
The supervisor asks now and then (``cluster.rebalance_s``) for one move; this module says
which: a camera of the most loaded node goes to the least loaded one with room, when their
counts differ by more than one (a difference of one cannot be evened out: moving would only
swap the two nodes' roles, restarting a camera for nothing). Asked again after each move, the
plan converges with every node within one camera of the others, moving as few cameras as
that takes. Nothing is moved while any camera is not placed on a node known to be alive (it
is starting, or its node just died): the counts would be wrong.

Ties are broken by name and camera id, so the same state gives the same move (testable, and
two supervisors' logs read alike).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple


class Move(NamedTuple):
    camera_id: int
    source: str  # the node it runs on
    target: str  # the node it is to run on


def plan_move(placed: Mapping[int, str], room: Mapping[str, int]) -> Move | None:
    """One move that evens out the cameras per node, or None (balanced, or in flux).

    ``placed``: camera id -> the node its worker runs on; ``room``: every live node that can
    run cameras -> how many cameras it holds at most (its CPUs over a camera's)."""
    if any(node not in room for node in placed.values()):
        return None  # a camera starting, or on a node that died: wait until it is placed
    cameras: dict[str, list[int]] = {node: [] for node in room}
    for camera_id, node in placed.items():
        cameras[node].append(camera_id)
    if not cameras:
        return None
    source = max(sorted(cameras), key=lambda n: len(cameras[n]))
    open_nodes = [n for n in sorted(cameras) if len(cameras[n]) < room[n]]
    if not open_nodes:
        return None
    target = min(open_nodes, key=lambda n: len(cameras[n]))
    if len(cameras[source]) - len(cameras[target]) <= 1:
        return None
    return Move(max(cameras[source]), source, target)
