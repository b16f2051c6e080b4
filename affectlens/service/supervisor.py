"""The supervisor: one worker per enabled camera, kept in step with the store.

Workers are separate processes, each with its own models, so cameras run on all cores. A
launcher (launcher.py) starts them: by default as processes on this machine, from
multiprocessing's fork server (measured with four cameras, 188 MB PSS a worker instead of
267 MB with ``spawn``, all four ready in 3.8 s instead of 11.1 s); or as actors on the nodes
of a Ray cluster (affectlens.cluster). They send messages over one channel; a reader thread
hands them to the Recorder (store, alerts, hub, metrics). ``sync()`` compares the store's cameras
with the running workers and starts, restarts and stops them; a watcher thread calls it every
``poll_s`` and restarts crashed workers with growing waits.

A camera change restarts its worker only when it must (issue 14): a new stream, purpose,
rate, falls turned on or off, clip lengths (``worker.needs_new_worker``). Face blurring,
distress thresholds, fall thresholds and zones are pushed to the running worker
(``HotSettings``, over a queue of its own), so open events and a long lie's clock survive
an edit. Each push and each new worker is a new generation of the camera's settings; the
Recorder drops pictures made under an older blurring setting by their generation.

On a cluster, every ``rebalance_s`` the launcher is asked whether a camera should move (a
node joined: ``Launcher.plan_move``); one that should is stopped as a changed camera is (it
ends its own open events, as any stopped worker does) and started again with the same
settings on the node named, the other cameras untouched.

On start, events left open by a previous run (the service was killed) are ended at the
restart time: they cannot be proven to have gone on. On stop, every worker ends its own open
events and sends its counts; a worker that does not stop in time is terminated and the
supervisor ends its events for it. Falls and long lies are the exception (issue 14): a
person presumed on the floor is never closed by a restart. They stay open through a
service restart, a worker's crash and a new worker, and each worker starts with its
camera's open ones (``CameraSpec.adopted``), which its fall rule ends once it sees the
person up (``FallRule.adopt``); reminders go on meanwhile. Only a camera no worker watches
for falls any more (disabled, deleted, falls or a body-watching purpose turned off) has
them ended, by ``sync``: nothing could see the person get up.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from affectlens.service.launcher import Launcher, LocalLauncher, StartMethod, WorkerHandle
from affectlens.service.messages import Message, OpenEvent
from affectlens.service.recorder import Recorder
from affectlens.service.worker import CameraSpec, needs_new_worker
from affectlens.store import Store
from affectlens.store.schema import Camera
from affectlens.vocabulary import DOWN_KINDS, EventKind

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = (1.0, 2.0, 5.0, 10.0, 30.0)
HEALTHY_AFTER_S = 60.0  # a worker that ran this long starts its restart waits afresh
STORE_RETRY_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)

SpecFor = Callable[[Camera], CameraSpec]


@dataclass
class _Worker:
    spec: CameraSpec
    handle: WorkerHandle
    started: float = field(default_factory=time.monotonic)
    stopping: bool = False
    stop_asked: float = 0.0  # monotonic time the stop was asked (camera changed or removed)


@dataclass
class _Restart:
    failures: int = 0
    not_before: float = 0.0


class Supervisor:
    def __init__(self, store: Store, recorder: Recorder, spec_for: SpecFor,
                 poll_s: float = 2.0, restart_backoff_s: tuple[float, ...] = RESTART_BACKOFF_S,
                 stop_timeout_s: float = 15.0, start_method: StartMethod = "forkserver",
                 launcher: Launcher | None = None, rebalance_s: float = 0.0) -> None:
        """``rebalance_s``: how often the launcher is asked for a camera to move; 0: never."""
        self.store = store
        self.recorder = recorder
        self.spec_for = spec_for
        self.poll_s = poll_s
        self.restart_backoff_s = restart_backoff_s
        self.stop_timeout_s = stop_timeout_s
        self.rebalance_s = rebalance_s
        # ``start_method``: of the local launcher, the default one.
        self.launcher = launcher or LocalLauncher(start_method)
        self.messages = self.launcher.messages
        self._workers: dict[int, _Worker] = {}
        self._restarts: dict[int, _Restart] = {}
        self._generations: dict[int, int] = {}  # camera id -> its settings' latest generation
        self._moves: dict[int, str] = {}  # camera id -> the node its next worker starts on
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._wake = threading.Event()
        self._reader = threading.Thread(target=self._read, name="supervisor reader", daemon=True)
        self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    # control -------------------------------------------------------------------------------

    def start(self) -> Supervisor:
        left_open = self.store.end_open_events(datetime.now(UTC), keep=DOWN_KINDS)
        if left_open:
            log.warning("ended %d events left open by the previous run", left_open)
        self._reader.start()
        self.sync()
        self._watcher.start()
        return self

    def stop(self) -> None:
        """Stop every worker (they end their events and send their counts), then the reader."""
        self._closing.set()
        self._wake.set()
        if self._watcher.is_alive():
            self._watcher.join(self.poll_s + 5)
        with self._lock:
            workers = list(self._workers.values())
            for worker in workers:
                worker.handle.stop()
            deadline = time.monotonic() + self.stop_timeout_s
            for worker in workers:
                worker.handle.join(max(0.1, deadline - time.monotonic()))
                if worker.handle.alive():
                    log.error("camera %s: worker did not stop in time; killed",
                              worker.spec.camera_id)
                    worker.handle.kill()
                    worker.handle.join(5)
                worker.handle.close()
            self._workers.clear()
        if self._reader.is_alive():
            self.messages.put(None)  # after every worker's last message: the reader ends here
            self._reader.join(30)
        ended = datetime.now(UTC)
        for worker in workers:  # only killed ones still have events open
            self.recorder.end_open(worker.spec.camera_id, ended, keep=DOWN_KINDS)
        self.launcher.close()

    def sync(self) -> None:
        """Bring the running workers in line with the store's enabled cameras."""
        if self._closing.is_set():
            return
        wanted = {c.id: self.spec_for(c) for c in self.store.cameras() if c.enabled}
        with self._lock:
            for camera_id, worker in list(self._workers.items()):
                if not worker.handle.alive():
                    self._reap(worker)
                elif (worker.stopping
                      and time.monotonic() - worker.stop_asked > self.stop_timeout_s):
                    log.error("camera %s: worker did not stop in time; killed", camera_id,
                              extra={"camera_id": camera_id})
                    worker.handle.kill()  # reaped by the next sync; its camera restarts then
                elif not worker.stopping and not self._same(worker.spec,
                                                            wanted.get(camera_id)):
                    self._change(worker, wanted.get(camera_id))
            for camera_id in set(self._restarts) - set(wanted) - set(self._workers):
                del self._restarts[camera_id]
                self._moves.pop(camera_id, None)
                self.recorder.forget(camera_id)
            now = time.monotonic()
            for camera_id, spec in wanted.items():
                restart = self._restarts.get(camera_id, _Restart())
                if camera_id not in self._workers and now >= restart.not_before:
                    self._spawn(spec, self._moves.pop(camera_id, None))
            self._end_unwatched_falls(wanted)
            if self.recorder.metrics is not None:
                self.recorder.metrics.workers.set(len(self._workers))

    @staticmethod
    def _same(running: CameraSpec, wanted: CameraSpec | None) -> bool:
        return wanted is not None and replace(wanted, generation=running.generation) == running

    def _next_generation(self, camera_id: int) -> int:
        self._generations[camera_id] = self._generations.get(camera_id, 0) + 1
        return self._generations[camera_id]

    def _change(self, worker: _Worker, spec: CameraSpec | None) -> None:
        """The camera changed, or was removed or disabled: push what a running worker takes,
        else stop it (the next sync starts its successor)."""
        camera_id = worker.spec.camera_id
        blur_changed = spec is not None and spec.blur_faces != worker.spec.blur_faces
        if spec is not None and not needs_new_worker(worker.spec, spec):
            worker.spec = replace(spec, generation=self._next_generation(camera_id))
            worker.handle.push(worker.spec.hot())
            pictures_from = worker.spec.generation
            log.info("camera %s: changed; settings pushed to its worker (generation %d)",
                     camera_id, pictures_from, extra={"camera_id": camera_id})
        else:
            log.info("camera %s: %s; stopping its worker", camera_id,
                     "changed" if spec is not None else "removed or disabled",
                     extra={"camera_id": camera_id})
            worker.stopping, worker.stop_asked = True, time.monotonic()
            worker.handle.stop()
            pictures_from = self._generations.get(camera_id, 0) + 1  # its successor's
        if spec is not None and blur_changed:
            # The newest preview was made under the old setting: it and the pictures still
            # on their way from before (snapshots and clips too when blurring is back on)
            # are dropped by their generation.
            self.recorder.withdraw_preview(camera_id, blurring=spec.blur_faces,
                                           generation=pictures_from)

    def rebalance(self) -> None:
        """Move one camera if the launcher says so (a node joined); not while a worker is
        stopping, whose camera may be on its way to a node already."""
        with self._lock:
            if (self._closing.is_set() or self._moves
                    or any(w.stopping for w in self._workers.values())):
                return
            move = self.launcher.plan_move({c: w.handle.node for c, w in self._workers.items()})
            if move is None:
                return
            camera_id, node = move
            worker = self._workers[camera_id]
            log.info("camera %s: moving its worker from %s to %s", camera_id,
                     worker.handle.node, node, extra={"camera_id": camera_id})
            self._moves[camera_id] = node
            worker.stopping, worker.stop_asked = True, time.monotonic()
            worker.handle.stop()  # the next syncs reap it and start it on ``node``

    def request_sync(self) -> None:
        """Sync soon, in the supervisor's thread (the API calls this after a camera change)."""
        self._wake.set()

    def workers(self) -> dict[int, int | None]:
        """camera id -> worker process id (on its node), for the cameras with a worker now."""
        with self._lock:
            return {c: w.handle.pid for c, w in self._workers.items()}

    def nodes(self) -> dict[int, str]:
        """camera id -> the node its worker runs on, for the cameras with a worker now."""
        with self._lock:
            return {c: w.handle.node for c, w in self._workers.items()}

    # inside --------------------------------------------------------------------------------

    def _end_unwatched_falls(self, wanted: dict[int, CameraSpec]) -> None:
        """Falls and long lies stay open from one worker run to the next (issue 14); those
        of a camera that neither a worker nor its settings watch for falls any more are
        ended now: nothing could see the person get up. Asked at every sync, so one whose
        start was stored after its worker stopped is ended by the next."""
        watched = {c for c, spec in wanted.items() if spec.watches_falls} | {
            c for c, worker in self._workers.items() if worker.spec.watches_falls}
        at, others = datetime.now(UTC), [k for k in EventKind if k not in DOWN_KINDS]
        for camera_id in {e.camera_id for e in self.store.open_events(kinds=DOWN_KINDS)}:
            if camera_id not in watched:
                ended = self.recorder.end_open(camera_id, at, keep=others)
                log.info("camera %s: watched for falls no more; %d open events ended",
                         camera_id, ended, extra={"camera_id": camera_id})

    def _spawn(self, spec: CameraSpec, node: str | None = None) -> None:
        """A worker for the camera; it adopts the falls and long lies still open (its
        predecessor's, or a previous service's), so they neither end nor repeat."""
        adopted = tuple(
            OpenEvent(e.key, EventKind(e.kind), e.track_id, e.started_at, e.confidence,
                      None if e.x is None or e.y is None else (e.x, e.y))
            for e in self.store.open_events(spec.camera_id, kinds=DOWN_KINDS)
        ) if spec.watches_falls else ()
        spec = replace(spec, generation=self._next_generation(spec.camera_id),
                       adopted=adopted)
        handle = self.launcher.launch(spec, node)
        self._workers[spec.camera_id] = _Worker(spec, handle)
        self._restarts.setdefault(spec.camera_id, _Restart())
        log.info("camera %s: worker %s started on %s", spec.camera_id, handle.pid, handle.node,
                 extra={"camera_id": spec.camera_id})

    def _reap(self, worker: _Worker) -> None:
        """A worker has ended: asked to (changed camera) or not (crashed, or its node died)."""
        camera_id = worker.spec.camera_id
        del self._workers[camera_id]
        worker.handle.close()
        code = worker.handle.exit_code()
        if worker.stopping:
            if code != 0:  # crashed or killed on its way out: its events are ended for it
                log.warning("camera %s: stopping worker ended with exit code %s", camera_id,
                            code, extra={"camera_id": camera_id})
                self.recorder.end_open(camera_id, datetime.now(UTC), keep=DOWN_KINDS)
            return
        restart = self._restarts.setdefault(camera_id, _Restart())
        if time.monotonic() - worker.started > HEALTHY_AFTER_S:
            restart.failures = 0
        wait = self.restart_backoff_s[min(restart.failures, len(self.restart_backoff_s) - 1)]
        restart.failures += 1
        restart.not_before = time.monotonic() + wait
        log.error("camera %s: worker died (exit code %s); restarting in %g s", camera_id, code,
                  wait, extra={"camera_id": camera_id})
        self.recorder.end_open(camera_id, datetime.now(UTC), keep=DOWN_KINDS)
        self.recorder.set_live(camera_id, False, f"worker died (exit code {code}); restarting")
        if self.recorder.metrics is not None:
            self.recorder.metrics.restarts.labels(str(camera_id)).inc()

    def _watch(self) -> None:
        balanced = time.monotonic()
        while not self._closing.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                self.sync()
                if self.rebalance_s > 0 and time.monotonic() - balanced >= self.rebalance_s:
                    balanced = time.monotonic()
                    self.rebalance()
            except Exception:  # a database hiccup must not end supervision
                log.exception("supervisor: sync failed; trying again")

    def _read(self) -> None:
        metrics = self.recorder.metrics
        while True:
            try:
                message = self.messages.get(timeout=1.0)
            except queue.Empty:
                continue
            except (EOFError, OSError):
                return
            if message is None:
                return
            self._handle(message)
            if metrics is not None:
                metrics.queue_depth.set(self.messages.qsize())

    def _handle(self, message: Message) -> None:
        """The database may be away for a while (PostgreSQL restarting): events and counts
        are retried for about a minute before they are given up, loudly."""
        for wait in (*STORE_RETRY_S, None):
            try:
                self.recorder.handle(message)
                return
            except Exception:
                if wait is None or self._closing.is_set():
                    log.exception("camera %s: %s lost: the store keeps failing",
                                  message.camera_id, type(message).__name__)
                    return
                log.warning("camera %s: store failed; retrying in %g s", message.camera_id,
                            wait, exc_info=True)
                time.sleep(wait)
