"""Dead letters (issue 17): the queries that retry them, show them and replay them.

Kept apart from db.py, on the same Store. The alert dispatcher is the only sender; the API
only marks a letter due (``replay``), so a letter is never sent by two threads at once.
A retry's outcome is written only if no replay came in meanwhile (``replayed_at`` as read):
a replay is never undone by the result of the attempt before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.sql.elements import ColumnElement

from affectlens.store.db import Store, now
from affectlens.store.schema import AlertOutbox, DeadLetter

RETRYING, DELIVERED, FAILED = "retrying", "delivered", "failed"


def _same_replay(letter: DeadLetter) -> ColumnElement[bool]:
    if letter.replayed_at is None:
        return DeadLetter.replayed_at.is_(None)
    return DeadLetter.replayed_at == letter.replayed_at


class DeadLetters:
    """The dead letters of one store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, status: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Newest first."""
        query = select(DeadLetter).order_by(DeadLetter.id.desc()).limit(limit)
        if status is not None:
            query = query.where(DeadLetter.status == status)
        with self.store.session() as session:
            return list(session.scalars(query))

    def get(self, letter_id: int) -> DeadLetter | None:
        with self.store.session() as session:
            return session.get(DeadLetter, letter_id)

    def due(self, first_wait_s: float, limit: int = 500,
            at: datetime | None = None) -> list[DeadLetter]:
        """Letters to retry now, oldest first: their next attempt has come, or (never
        retried yet) ``first_wait_s`` has passed since they became dead letters."""
        at = at or now()
        first = at - timedelta(seconds=first_wait_s)
        query = (select(DeadLetter).where(
            DeadLetter.status == RETRYING,
            (DeadLetter.next_attempt_at <= at)
            | (DeadLetter.next_attempt_at.is_(None) & (DeadLetter.created_at <= first)))
            .order_by(DeadLetter.id).limit(limit))
        with self.store.session() as session:
            return list(session.scalars(query))

    def delivered(self, letter: DeadLetter) -> None:
        """Sent: whatever a replay asked meanwhile is done too."""
        self._update(letter.id, None, status=DELIVERED, done_at=now(), next_attempt_at=None,
                     attempts=DeadLetter.attempts + 1)

    def retry_failed(self, letter: DeadLetter, error: str, next_at: datetime | None) -> bool:
        """One more failed attempt: tried again at ``next_at``, or ``failed`` for good when
        None. False (nothing written) when an admin replayed it meanwhile."""
        values: dict[str, object] = {"attempts": DeadLetter.attempts + 1,
                                     "retries": DeadLetter.retries + 1,
                                     "last_error": error[:500], "next_attempt_at": next_at}
        if next_at is None:
            values |= {"status": FAILED, "done_at": now()}
        return self._update(letter.id, _same_replay(letter), **values)

    def give_up(self, letter: DeadLetter, reason: str) -> bool:
        """``failed`` without another attempt (its retry time is over and its target just
        failed another letter). False when an admin replayed it meanwhile."""
        return self._update(letter.id, _same_replay(letter) & (DeadLetter.status == RETRYING),
                            status=FAILED, done_at=now(), next_attempt_at=None,
                            last_error=reason[:500])

    def postpone(self, letters: Sequence[DeadLetter], until: datetime) -> None:
        """Not tried this round (their target just failed another letter): at ``until``."""
        for letter in letters:
            self._update(letter.id, _same_replay(letter) & (DeadLetter.status == RETRYING),
                         next_attempt_at=until)

    def replay(self, letter_id: int) -> DeadLetter | None:
        """An admin's replay: due now, retried afresh (its retry time counts from now).
        A delivered letter is left as it is; None when there is no such letter."""
        at = now()
        self._update(letter_id, DeadLetter.status != DELIVERED, status=RETRYING,
                     next_attempt_at=at, replayed_at=at, retries=0, done_at=None)
        return self.get(letter_id)

    def waiting(self) -> int:
        """Letters still to be retried."""
        with self.store.session() as session:
            return session.scalar(select(func.count()).select_from(DeadLetter)
                                  .where(DeadLetter.status == RETRYING)) or 0

    def outbox_waiting(self) -> int:
        """Alerts in the outbox not yet handed to their senders."""
        with self.store.session() as session:
            return session.scalar(select(func.count()).select_from(AlertOutbox)
                                  .where(AlertOutbox.done_at.is_(None))) or 0

    def _update(self, letter_id: int, condition: ColumnElement[bool] | None,
                **values: object) -> bool:
        statement = update(DeadLetter).where(DeadLetter.id == letter_id)
        if condition is not None:
            statement = statement.where(condition)
        with self.store.session() as session:
            result = session.execute(statement.values(**values)
                                     .execution_options(synchronize_session=False))
            return result.rowcount > 0
