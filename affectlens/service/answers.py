"""Read-only JSON answers made once per change and sent as bytes to every caller who asks for
the same thing until the next change (issue 17 item 3).

Under load most requests ask the same few questions (the newest 50 events, every camera's
live state), and answering each one afresh (a database query, the ORM, pydantic, JSON) cost
5-8 ms of CPU on the 2-core machine (docs/speed.md). An answer is kept under its key and the
store's ``generation``, which moves after every committed write through this process's store
(a new or ended event, an acknowledgement, retention's deletions, a camera renamed): the
next request after a write is answered from the database again, so nothing written here is
ever missing from it. Writes by other processes (the command line, another service on the
same PostgreSQL) do not move the generation; an answer is therefore never older than
``MAX_AGE_S`` either. Concurrent misses for one key are built once: the others wait for it.
An answer past half its age is still sent while it is built again in the background, so that
under steady load no request waits on the database for a question asked before.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from affectlens.store import Store

log = logging.getLogger(__name__)

# How old an answer may be at most: the delay before a write by another process is seen.
# One second costs one rebuild a second per question under load, and no one reads faster.
MAX_AGE_S = 1.0
MAX_ANSWERS = 256  # distinct questions kept; beyond it the cache starts again


@dataclass(frozen=True)
class _Answer:
    body: bytes
    generation: int  # Store.generation read before the database was
    made_at: float  # time.monotonic() read before the database was


class Answers:
    """The kept answers of one app; ``answer`` is called on its event loop only."""

    def __init__(self, store: Store, max_age_s: float = MAX_AGE_S) -> None:
        self.store = store
        self.max_age_s = max_age_s
        self._kept: dict[Hashable, _Answer] = {}
        self._building: dict[tuple[Hashable, int], asyncio.Future[bytes]] = {}

    def kept(self, key: Hashable, build: Callable[[], bytes] | None = None) -> bytes | None:
        """The answer for ``key`` if it is still true, else None; one past half its age is
        built again by ``build`` in the background (once), and sent meanwhile."""
        answer = self._kept.get(key)
        if answer is None or answer.generation != self.store.generation:
            return None
        age = time.monotonic() - answer.made_at
        if age >= self.max_age_s:
            return None
        if age >= self.max_age_s / 2 and build is not None:
            self._build(key, build)
        return answer.body

    def make(self, key: Hashable, build: Callable[[], bytes]) -> bytes:
        """Builds the answer (in a worker thread: ``build`` reads the database) and keeps it
        under the generation read before it, so that a write committed while it was built
        makes the next request build it again."""
        generation, made_at = self.store.generation, time.monotonic()
        body = build()
        if len(self._kept) >= MAX_ANSWERS:
            self._kept.clear()
        self._kept[key] = _Answer(body, generation, made_at)
        return body

    def _build(self, key: Hashable, build: Callable[[], bytes]) -> asyncio.Future[bytes]:
        """The build of ``key`` for the store's present generation: the one in progress, or
        a new one in a worker thread."""
        building = (key, self.store.generation)
        future = self._building.get(building)
        if future is None:
            future = asyncio.ensure_future(run_in_threadpool(self.make, key, build))
            self._building[building] = future

            def done(finished: asyncio.Future[bytes]) -> None:
                self._building.pop(building, None)
                if not finished.cancelled() and finished.exception() is not None:
                    # Read here, so that a background build nobody waits for is not
                    # reported as never retrieved; a caller waiting for it gets it too.
                    log.warning("cannot build the answer to %r: %s", key, finished.exception())

            future.add_done_callback(done)
        return future

    async def answer(self, key: Hashable, build: Callable[[], bytes]) -> Response:
        """A JSON response for ``key``: the kept one, the one being built, or a new one."""
        body = self.kept(key, build)
        if body is None:
            # Shielded: a caller that leaves does not cancel a build others wait for.
            body = await asyncio.shield(self._build(key, build))
        return Response(body, media_type="application/json")
