"""The append-only, hash-chained audit log.

Each record's hash covers its id, time, actor, action, target, detail and the previous
record's hash; the first record's previous hash is 64 zeros. Changing a record breaks its
own hash; deleting one leaves a gap in the ids and a previous-hash that matches nothing.
``verify`` names the record. Cutting records off the end leaves a shorter chain that is
still consistent, so ``verify`` also checks an expected head (the last hash, kept outside
the database) when given one. The database refuses UPDATE and DELETE on the table
(migration 0004); the chain catches whoever drops those triggers.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select

from affectlens.security.accounts import Clock
from affectlens.store import Store
from affectlens.store.accounts import GENESIS_HASH, AuditRecord
from affectlens.store.db import StoreError, now

MEDIA_COALESCE_S = 600.0  # repeated views of one camera's media by one caller: one record


def record_hash(prev_hash: str, record_id: int, at: datetime, actor: str, action: str,
                target: str, detail: str) -> str:
    payload = json.dumps([record_id, at.astimezone(UTC).isoformat(), actor, action, target,
                          detail], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def _hash_of(record: AuditRecord) -> str:
    return record_hash(record.prev_hash, record.id, record.at, record.actor, record.action,
                       record.target, record.detail)


@dataclass(frozen=True)
class Verification:
    ok: bool
    records: int
    head: str  # the last record's hash: keep it elsewhere to detect a cut-off tail
    problems: list[str]


class AuditLog:
    """Appends and reads audit records; one lock serialises this process's appends, the
    unique previous-hash makes a concurrent writer elsewhere retry instead of forking."""

    def __init__(self, store: Store, clock: Clock = now) -> None:
        self.store = store
        self.clock = clock
        self._lock = threading.Lock()
        self._media_seen: dict[tuple[str, str, str], float] = {}

    def append(self, actor: str, action: str, target: str = "",
               **detail: object) -> AuditRecord:
        text = json.dumps(detail, sort_keys=True, ensure_ascii=False, default=str)
        for attempt in range(5):
            try:
                with self._lock, self.store.session() as session:
                    last = session.scalar(select(AuditRecord).order_by(AuditRecord.id.desc())
                                          .limit(1))
                    record_id = 1 if last is None else last.id + 1
                    prev = GENESIS_HASH if last is None else last.hash
                    at = self.clock().astimezone(UTC)
                    record = AuditRecord(id=record_id, at=at, actor=actor[:120],
                                         action=action[:64], target=target[:200], detail=text,
                                         prev_hash=prev)
                    record.hash = _hash_of(record)
                    session.add(record)
                return record
            except StoreError:
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))  # another process appended first
        raise AssertionError("unreachable")

    def media_viewed(self, actor: str, kind: str, camera_id: int) -> None:
        """Records a view of a camera's media, once per caller, camera and kind every
        MEDIA_COALESCE_S (the dashboard refreshes snapshots every few seconds)."""
        key = (actor, kind, str(camera_id))
        seen = time.monotonic()
        with self._lock:
            last = self._media_seen.get(key)
            if last is not None and seen - last < MEDIA_COALESCE_S:
                return
            self._media_seen = {k: t for k, t in self._media_seen.items()
                                if seen - t < MEDIA_COALESCE_S}  # old views cover nothing
            self._media_seen[key] = seen  # claimed now: concurrent views write one record
        try:
            self.append(actor, f"media.{kind}", f"camera:{camera_id}",
                        covers_repeats_for_s=MEDIA_COALESCE_S)
        except BaseException:  # not recorded: the next view must try again
            with self._lock:
                if self._media_seen.get(key) == seen:
                    del self._media_seen[key]
            raise

    def records(self, after_id: int = 0, since: datetime | None = None,
                until: datetime | None = None, action: str | None = None,
                limit: int = 1000) -> list[AuditRecord]:
        query = select(AuditRecord).where(AuditRecord.id > after_id)
        if since is not None:
            query = query.where(AuditRecord.at >= since)
        if until is not None:
            query = query.where(AuditRecord.at < until)
        if action is not None:
            query = query.where(AuditRecord.action == action)
        with self.store.session() as session:
            return list(session.scalars(query.order_by(AuditRecord.id).limit(limit)))

    def all_records(self, batch: int = 1000) -> Iterator[AuditRecord]:
        after = 0
        while chunk := self.records(after_id=after, limit=batch):
            yield from chunk
            after = chunk[-1].id

    def verify(self, expected_head: str | None = None) -> Verification:
        problems: list[str] = []
        prev_id, prev_hash, count, head_seen = 0, GENESIS_HASH, 0, expected_head is None
        for record in self.all_records():
            count += 1
            if record.id != prev_id + 1:
                missing = (f"record {prev_id + 1}" if record.id == prev_id + 2
                           else f"records {prev_id + 1} to {record.id - 1}")
                problems.append(f"{missing} deleted: record {record.id} follows record "
                                f"{prev_id}")
            elif record.prev_hash != prev_hash:
                problems.append(f"record {prev_id} was changed after record {record.id} "
                                "was written (record "
                                f"{record.id} holds a different hash for it)")
            if _hash_of(record) != record.hash:
                problems.append(f"record {record.id} was changed: its contents do not match "
                                "its hash")
            prev_id, prev_hash = record.id, record.hash
            head_seen = head_seen or record.hash == expected_head
        if not head_seen:
            problems.append(f"no record has the expected head hash {expected_head}: records "
                            f"after {prev_id} were deleted")
        return Verification(not problems, count, prev_hash, problems)
