"""Dead letters for admins (issue 17): alerts a webhook, the MQTT broker or an Apprise URL
did not take.

``GET /api/dead-letters`` lists them, newest first, with what became of them (``retrying``
with the next try's time, ``delivered``, or ``failed`` after the site's ``retry_for_s``).
``POST /api/dead-letters/{id}/replay`` makes one due at once and starts its retries over;
the alert dispatcher (the only thread that sends) is woken and sends it under the alert's own
idempotency key. Replaying is written to the audit log; a delivered letter is not sent again
(409). Both routes are for admins only.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from affectlens.privacy.policy import redact_url
from affectlens.security.access import ONLY_ADMIN, requires
from affectlens.service.deps import AuditDep, Caller, ServicesDep, StoreDep
from affectlens.service.schemas import RowId
from affectlens.store.dead_letters import DELIVERED, DeadLetters
from affectlens.store.schema import DeadLetter

DEAD_LETTER_REPLAY = "alert.dead_letter_replay"
Status = Literal["retrying", "delivered", "failed"]
router = APIRouter()


class DeadLetterOut(BaseModel):
    id: int
    created_at: datetime
    channel: str
    target: str  # passwords in it hidden
    event_id: int | None
    kind: str | None  # the event's, from the payload
    idempotency_key: str | None
    attempts: int
    last_error: str
    status: Status
    next_attempt_at: datetime | None  # retrying: when it is next tried (None: soon)
    done_at: datetime | None
    replayed_at: datetime | None

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        try:
            sent = json.loads(letter.payload)
        except ValueError:
            sent = None
        sent = sent if isinstance(sent, dict) else {}
        event = sent.get("event", sent)
        kind = event.get("kind") if isinstance(event, dict) else None
        key = sent.get("idempotency_key")
        return cls(
            id=letter.id, created_at=letter.created_at, channel=letter.channel,
            target=redact_url(letter.target), event_id=letter.event_id,
            kind=kind if isinstance(kind, str) else None,
            idempotency_key=key if isinstance(key, str) else None,
            attempts=letter.attempts, last_error=letter.last_error,
            status=letter.status,  # type: ignore[arg-type]
            next_attempt_at=letter.next_attempt_at, done_at=letter.done_at,
            replayed_at=letter.replayed_at)


@router.get("/api/dead-letters")  # their targets and payloads: admins only
@requires(ONLY_ADMIN)
def list_dead_letters(store: StoreDep, status: Status | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      ) -> list[DeadLetterOut]:
    return [DeadLetterOut.of(letter) for letter in DeadLetters(store).list(status, limit)]


@router.post("/api/dead-letters/{letter_id}/replay", status_code=202)
@requires(ONLY_ADMIN)
def replay_dead_letter(letter_id: RowId, caller: Caller, services: ServicesDep,
                       audit: AuditDep) -> DeadLetterOut:
    """Sent again soon, once; 409 when it was delivered already."""
    letters = DeadLetters(services.store)
    before = letters.get(letter_id)
    if before is None:
        raise HTTPException(404, f"no dead letter {letter_id}")
    if before.status == DELIVERED:
        raise HTTPException(409, f"dead letter {letter_id} was delivered already")
    letter = letters.replay(letter_id)
    if letter is None:
        raise HTTPException(404, f"no dead letter {letter_id}")
    if letter.status == DELIVERED:  # delivered by a retry just now
        raise HTTPException(409, f"dead letter {letter_id} was delivered already")
    audit.append(caller.name, DEAD_LETTER_REPLAY, f"dead_letter:{letter_id}",
                 channel=letter.channel, to=redact_url(letter.target),
                 event_id=letter.event_id, status_before=before.status,
                 attempts=before.attempts)
    if services.on_replay is not None:  # wakes the dispatcher; else its next look finds it
        services.on_replay()
    return DeadLetterOut.of(letter)
