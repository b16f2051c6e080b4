"""The project's two closed vocabularies, spelled once: why a camera or job runs (``Purpose``)
and what happened (``EventKind``).

They are StrEnums whose values are the strings stored in the database, written to CSV and
JSON and accepted by the API and the site config, so a member compares, hashes and prints as
its value (``Purpose.CARE_SAFETY == "care_safety"``) and nothing stored had to change. This
module is in the lowest layer: every other one may name them.
"""

from __future__ import annotations

from enum import StrEnum


class Purpose(StrEnum):
    """The declared purpose (the README's hard lines): what may be analysed follows from it."""

    CARE_SAFETY = "care_safety"
    CONSENTED_RESEARCH = "consented_research"
    ANONYMOUS_STATISTICS = "anonymous_statistics"


# Expression analysis (and with it distress, and the body path: falls watch a person) only for
# the care and safety of the people filmed or for consented research.
EXPRESSION_PURPOSES = frozenset({Purpose.CARE_SAFETY, Purpose.CONSENTED_RESEARCH})
# Tone of voice (issue 20): its model is trained on research-only data (CC BY-NC-SA), and
# speech in a room reaches further than a camera's view, so consented research only.
VOICE_PURPOSES = frozenset({Purpose.CONSENTED_RESEARCH})


class EventKind(StrEnum):
    """An event's kind, as stored, alerted and written to events.csv."""

    FALL = "fall"
    LONG_LIE = "long_lie"
    INACTIVITY = "inactivity"
    DISTRESS = "distress"
    CAMERA_OFFLINE = "camera_offline"


# The kinds the fall rule (affectlens.events.falls) raises from body pose.
FALL_KINDS = (EventKind.FALL, EventKind.LONG_LIE, EventKind.INACTIVITY)
# Someone may be lying on the floor: staff are reminded until they acknowledge it
# (service/reminders.py), and the event outlives the worker run that raised it (a restart
# hands it to the camera's next run, which ends it once it sees the person up: issue 14).
DOWN_KINDS = (EventKind.FALL, EventKind.LONG_LIE)


def values(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The plain strings of a vocabulary, in order (for SQL CHECK constraints and messages)."""
    return tuple(member.value for member in vocabulary)
