"""Camera workers as Ray actors: the supervisor's launcher on a cluster (issue 15).

Each camera's worker is an actor asking for ``num_cpus`` CPUs; Ray places it on a node with
them free, spreading cameras over the nodes. Inside, the same CameraLoop runs as in a local
worker process, with the same models. Its messages go into one Ray queue (an actor pinned to
the service's node, asking for no CPU), which the supervisor's reader takes them from as it
takes them from the local processes' queue: the same Recorder, the same keys. An event's
message is acknowledged when the queue holds it; the events a worker started and could not
end (its node died) are ended by the supervisor, and a message handed in twice stores
nothing twice (the keys of issue 14).

When a node dies, Ray fails its actors' running calls; the supervisor sees the worker gone
like a crashed process, ends its open events and launches a new actor, which Ray places on
a node still there. Ray does not restart the actor itself (``max_restarts=0``): a restarted
actor would come back with its first settings, not those pushed to it since.

Actors share the fate of the service (Ray's default for actors that are not detached): when
the service's process ends, its cameras' actors end with it, as local workers do when they
find their parent gone.

When a node joins, Ray places only actors started from then on there; running ones stay
where they are. The supervisor asks ``plan_move`` every ``cluster.rebalance_s``: the live
nodes that can hold a camera, how many each holds (its CPUs, and GPUs when cameras ask for
some, over a camera's share; counted as if cameras were all a node runs) and the cameras on
each go to balance.py's plan, and the supervisor stops the camera it names and starts it
again on the named node (``launch(spec, node)``), the other cameras untouched.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from collections.abc import Mapping
from typing import Any

from affectlens.cluster.balance import plan_move
from affectlens.cluster.batching import BatchSettings, close_batchers, node_batcher, remote_opener
from affectlens.cluster.connect import connect, disconnect, require_ray
from affectlens.service.launcher import QUEUE_SIZE
from affectlens.service.logs import setup_logging
from affectlens.service.worker import (
    CameraLoop,
    CameraSpec,
    HotSettings,
    make_session,
    pushed,
    queue_sender,
)

LOST = -9  # exit code of a worker whose actor died without returning (its node died)


def node_name(address: str, node_id: str) -> str:
    """A node as the dashboard shows it: its address, and its id's start (nodes of one
    machine share an address)."""
    return f"{address} {node_id[:12]}"


class CameraActor:
    """One camera's worker in a Ray actor; its methods are called by the supervisor (``run``
    once, the others while ``run`` goes on: the actor runs calls in several threads)."""

    def __init__(self, spec: CameraSpec, messages: Any, batching: BatchSettings | None = None
                 ) -> None:
        ray = require_ray()
        self.spec = spec
        self.messages = messages  # a ray.util.queue.Queue
        self.batching = batching  # None: the camera loads and calls its own face models
        self.node = node_name(ray.util.get_node_ip_address(),
                              ray.get_runtime_context().get_node_id())
        self._stop = threading.Event()
        self._settings: queue.Queue[HotSettings] = queue.Queue()
        self._generation = spec.generation

    def where(self) -> tuple[int, str]:
        return os.getpid(), self.node

    def run(self) -> None:
        """The camera's loop, until ``stop``; its last message sent, it returns."""
        spec = self.spec
        setup_logging(spec.log_format, spec.log_level)
        session = (make_session(spec) if self.batching is None else make_session(
            spec, opener=remote_opener(node_batcher(self.batching, spec.analysis.device,
                                                    spec.analysis.threads))))
        CameraLoop(spec, session, queue_sender(self.messages, self.node)).run(
            self._stop, lambda: pushed(self._settings))

    def push(self, hot: HotSettings) -> None:
        """Settings pushed by the supervisor; calls may overtake each other in a threaded
        actor, so only a newer generation than the last is taken."""
        if hot.generation > self._generation:
            self._generation = hot.generation
            self._settings.put(hot)

    def stop(self) -> None:
        self._stop.set()


class ActorWorker:
    """The supervisor's handle on one camera actor (launcher.WorkerHandle)."""

    def __init__(self, actor: Any, run: Any, where: Any) -> None:
        self.ray = require_ray()
        self.actor, self._run, self._where = actor, run, where
        self._pid: int | None = None
        self._node = ""

    def _located(self) -> None:
        """Where the actor runs, once Ray has placed and started it (never waits)."""
        if self._pid is None and self.ray.wait([self._where], timeout=0)[0]:
            try:
                self._pid, self._node = self.ray.get(self._where)
            except self.ray.exceptions.RayError:
                self._pid, self._node = -1, "lost"

    @property
    def pid(self) -> int | None:
        self._located()
        return self._pid

    @property
    def node(self) -> str:
        self._located()
        return self._node or "not placed yet"

    def alive(self) -> bool:
        return not self.ray.wait([self._run], timeout=0)[0]

    def stop(self) -> None:
        self.actor.stop.remote()

    def push(self, hot: HotSettings) -> None:
        self.actor.push.remote(hot)

    def join(self, timeout: float) -> None:
        self.ray.wait([self._run], timeout=timeout)

    def kill(self) -> None:
        self.ray.kill(self.actor, no_restart=True)

    def exit_code(self) -> int | None:
        if self.alive():
            return None
        try:
            self.ray.get(self._run)
        except self.ray.exceptions.RayTaskError:
            return 1  # run raised (CameraLoop reports its own failures and returns)
        except self.ray.exceptions.RayError:
            return LOST
        return 0

    def close(self) -> None:
        """The actor outlives its ``run``: killed, its CPUs go back to the cluster."""
        self.ray.kill(self.actor, no_restart=True)


class RayLauncher:
    """Launches camera actors on the Ray cluster at ``address`` (launcher.Launcher)."""

    def __init__(self, address: str, num_cpus: float = 1.0, num_gpus: float = 0.0,
                 batching: BatchSettings | None = None) -> None:
        """``batching``: the cameras' face models run by one batching actor a node."""
        self._joined = connect(address)
        self.batching = batching
        ray = self.ray = require_ray()
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        here = NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(),
                                              soft=False)
        self.messages = Queue(QUEUE_SIZE, actor_options={"num_cpus": 0,
                                                         "scheduling_strategy": here})
        self.num_cpus, self.num_gpus = num_cpus, num_gpus
        self._actor = ray.remote(CameraActor)
        self._options: dict[str, Any] = {
            "num_cpus": num_cpus, "num_gpus": num_gpus, "max_restarts": 0,
            "max_concurrency": 4, "scheduling_strategy": "SPREAD"}
        self._node_ids: dict[str, str] = {}  # node name -> Ray's node id, as last seen

    def launch(self, spec: CameraSpec, node: str | None = None) -> ActorWorker:
        """``node``: placed there if it is still alive and has the CPUs free (soft
        affinity, spilling elsewhere otherwise: a camera never waits for one node)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        options = dict(self._options)
        if node is not None and (node_id := self._node_ids.get(node)) is not None:
            options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(
                node_id, soft=True, _spill_on_unavailable=True)
        actor = self._actor.options(**options).remote(spec, self.messages, self.batching)
        return ActorWorker(actor, actor.run.remote(), actor.where.remote())

    def room(self) -> dict[str, int]:
        """The live nodes that can run a camera -> how many cameras each holds at most."""
        room: dict[str, int] = {}
        ids: dict[str, str] = {}
        for node in self.ray.nodes():
            have = node.get("Resources", {})
            fits = [math.floor(have.get("CPU", 0.0) / self.num_cpus + 1e-9)]
            if self.num_gpus > 0:
                fits.append(math.floor(have.get("GPU", 0.0) / self.num_gpus + 1e-9))
            if node.get("Alive") and min(fits) > 0:
                name = node_name(node["NodeManagerAddress"], node["NodeID"])
                room[name], ids[name] = min(fits), node["NodeID"]
        self._node_ids = ids
        return room

    def plan_move(self, placed: Mapping[int, str]) -> tuple[int, str] | None:
        move = plan_move(placed, self.room())
        return None if move is None else (move.camera_id, move.target)

    def close(self) -> None:
        self.messages.shutdown(force=True)
        if self.batching is not None:
            close_batchers()
        disconnect(self._joined)
