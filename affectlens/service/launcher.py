"""Where camera workers run: the launcher interface and its default, local processes.

The supervisor decides which cameras need a worker, when one is stopped, and what a dead one
means (its events ended, a restart after a wait); a launcher only starts a worker for a
``CameraSpec`` and gives back a handle to it, and carries the workers' messages to the
supervisor's reader. Two launchers exist: ``LocalLauncher`` (here: one process per camera on
this machine, the default) and the Ray launcher (``affectlens.cluster``: one actor per camera,
on any node of a Ray cluster), which the supervisor drives the same way. A launcher also
answers whether a running camera should move to another node (a node joined the cluster:
``plan_move``); the supervisor moves it as it restarts a changed camera, stop then start.

The message channel is anything with ``get(timeout=)`` (raising ``queue.Empty``), ``put`` and
``qsize``: a multiprocessing queue here, a Ray queue on a cluster.
"""

from __future__ import annotations

import multiprocessing
import socket
from collections.abc import Mapping
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as ProcessEvent
from typing import Any, Literal, Protocol

from affectlens.service.worker import CameraSpec, HotSettings, run_process

QUEUE_SIZE = 2000
StartMethod = Literal["forkserver", "spawn"]


class Channel(Protocol):
    """The workers' messages, read by the supervisor's reader thread (None: stop reading)."""

    def get(self, block: bool = True, timeout: float | None = None) -> Any: ...

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None: ...

    def qsize(self) -> int: ...


class WorkerHandle(Protocol):
    """One running worker, as the supervisor sees it."""

    @property
    def pid(self) -> int | None:
        """Its process id on its node."""

    @property
    def node(self) -> str:
        """Where it runs (a host name, or a cluster node)."""

    def alive(self) -> bool: ...

    def stop(self) -> None:
        """Ask it to stop: it ends its open events and sends its counts first."""

    def push(self, hot: HotSettings) -> None:
        """Settings it takes without a restart (issue 14)."""

    def join(self, timeout: float) -> None:
        """Wait at most ``timeout`` seconds for it to end."""

    def kill(self) -> None: ...

    def exit_code(self) -> int | None:
        """0: stopped when asked; anything else: crashed or killed (None: unknown)."""

    def close(self) -> None:
        """Free what is left of it (it has ended)."""


class Launcher(Protocol):
    messages: Channel

    def launch(self, spec: CameraSpec, node: str | None = None) -> WorkerHandle:
        """Start a worker for ``spec``; on ``node`` (a name a handle's ``node`` gives) when
        given and still there, else wherever the launcher places it."""

    def plan_move(self, placed: Mapping[int, str]) -> tuple[int, str] | None:
        """Given where the running cameras run (camera id -> node), one camera to move and
        the node to move it to, or None: nothing to even out."""

    def close(self) -> None:
        """After the last worker ended and the reader stopped."""


class _Process:
    """A worker process with its stop flag and its queue of pushed settings."""

    def __init__(self, process: BaseProcess, stop: ProcessEvent,
                 settings: multiprocessing.Queue[HotSettings]) -> None:
        self.process, self._stop, self._settings = process, stop, settings

    @property
    def pid(self) -> int | None:
        return self.process.pid

    @property
    def node(self) -> str:
        return socket.gethostname()

    def alive(self) -> bool:
        return self.process.is_alive()

    def stop(self) -> None:
        self._stop.set()

    def push(self, hot: HotSettings) -> None:
        self._settings.put(hot)

    def join(self, timeout: float) -> None:
        self.process.join(timeout)

    def kill(self) -> None:
        self.process.kill()

    def exit_code(self) -> int | None:
        return self.process.exitcode

    def close(self) -> None:
        self.process.join(1)
        self._settings.cancel_join_thread()  # what it never read is of no use to anyone
        self._settings.close()


class LocalLauncher:
    """One process per camera on this machine, started from multiprocessing's fork server by
    default: a clean single-threaded process that has imported the worker code once, so
    nothing of the service's threads, locks or database connections is inherited (as with
    ``spawn``), yet a worker starts in under a second instead of importing everything again,
    and the imported pages are shared (supervisor.py gives the figures)."""

    def __init__(self, start_method: StartMethod = "forkserver") -> None:
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            self._context.set_forkserver_preload(["__main__", "affectlens.service.worker"])
        self.messages: multiprocessing.Queue[Any] = self._context.Queue(QUEUE_SIZE)

    def launch(self, spec: CameraSpec, node: str | None = None) -> _Process:
        """``node``: there is only this machine."""
        stop = self._context.Event()
        settings: multiprocessing.Queue[HotSettings] = self._context.Queue()
        process = self._context.Process(target=run_process,
                                        args=(spec, self.messages, stop, settings),
                                        name=f"camera-{spec.camera_id}", daemon=True)
        process.start()
        return _Process(process, stop, settings)

    def plan_move(self, placed: Mapping[int, str]) -> None:
        """One machine: nowhere to move a camera to."""
        return None

    def close(self) -> None:
        self.messages.close()
