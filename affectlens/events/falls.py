"""Falls, long lies and inactivity from tracked body pose.

Each tracked person is a small state machine:

    upright -> falling -> on_floor -> recovered   (a fall: upright to the floor, quickly)
    upright -> falling -> lying          (lay down on purpose, or in a bed or chair zone)

"On the floor" is one of: hips that dropped well below where they were while upright together
with a flat body (a tilted torso, hips level with the ankles, a torso foreshortened toward the
camera); or, from any camera height, a
tilted torso in a wide body box with the hips not standing on the legs; or hips at ankle
height in a wide body box with the torso leaning (sitting or half lying on the floor, which a
high camera shows with the hips barely lower than standing). Bending to pick
something up tilts the torso but keeps the hips high above the ankles; sitting down drops the
hips but keeps the torso upright. A person counts as up before a fall when the
torso is upright or when the hips stand on the legs (a bend, or a camera looking down steeply
tilts the torso in the image). The step
upright -> floor must take at most ``max_fall_s`` and the learned classifier
(fall_classifier.py) must give the window before it at least ``min_probability``: a slow,
controlled lie-down is ``lying``, not a fall. A ``fall`` event fires once the floor posture has
held ``confirm_s``; ``long_lie`` fires ``long_lie_s`` after the first floor frame if the person
has not been seen upright again, after a fall and also (``long_lie_without_fall``) for anyone
lying on the floor outside a bed or chair zone: a slow slide from a chair and a fall the
classifier missed end on the floor too. A person seen too little to judge (under 4 body
joints, or no hips: a camera that cuts off the legs) for ``confirm_s`` after being seen up or
falling is decided as one lost from view on the way down is, not skipped. A person on the floor who
is no longer detected (pose models often lose people lying down) is kept on the floor, not
forgotten, until seen upright nearby: their fall or long lie stays open however long that
takes (issue 14; the service reminds and escalates meanwhile). Memory stays bounded: past
``hold_unseen_s`` unseen such a person keeps no pose history (held as a place), and at most
``MAX_HELD`` are held unseen. ``inactivity`` fires when nothing moved in a zone with
``inactivity_minutes`` for that long.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from affectlens.events.event import Event as FallEvent  # one Event type (event.py)
from affectlens.events.fall_classifier import FallClassifier
from affectlens.events.fall_features import Posture, body_region, posture, window_features
from affectlens.events.fall_settings import FallSettings, Zone
from affectlens.vocabulary import EventKind

log = logging.getLogger(__name__)

State = Literal["upright", "falling", "on_floor", "lying", "recovered"]
# People held on the floor unseen, per camera (FallRule._bound_held): more than the pose model
# finds in a frame (6), so reached only by a camera the rule misreads again and again.
MAX_HELD = 16


@dataclass
class _Person:
    track_id: int
    times: deque[float] = field(default_factory=deque)
    postures: deque[Posture] = field(default_factory=deque)
    upright_lengths: deque[float] = field(default_factory=lambda: deque(maxlen=30))
    upright_hips: deque[float] = field(default_factory=lambda: deque(maxlen=30))
    state: State | None = None
    last_upright_s: float | None = None
    upright_since: float | None = None
    floor_since: float | None = None
    floor_flat: bool = False  # the torso was flat in some floor frame since floor_since
    pending: bool = False  # judged a fall on a low (not flat) floor posture, not yet raised
    probability: float = float("nan")
    fall: FallEvent | None = None
    long_lie: FallEvent | None = None
    last_seen_s: float = float("-inf")
    hip: tuple[float, float] = (float("nan"), float("nan"))
    box: tuple[float, float, float, float] | None = None  # last seen body (unseen_regions)
    anchor: tuple[float, float] | None = None  # where it last moved (inactivity)
    longest: float = float("nan")  # longest torso seen: the scale of someone never upright
    first_hip: tuple[float, float] | None = None  # where the track began (_helped_up)
    # Held as a place: down in an earlier run of the camera (FallRule.adopt), or unseen on the
    # floor past hold_unseen_s (FallRule._as_place); no pose history, events open.
    adopted: bool = False

    @property
    def scale(self) -> float:
        if self.upright_lengths:
            return float(np.median(self.upright_lengths))
        return self.longest


class FallRule:
    """update(time, track ids, bodies) -> events that started or ended with this frame."""

    def __init__(self, settings: FallSettings | None = None,
                 classifier: FallClassifier | None = None) -> None:
        self.settings = settings or FallSettings()  # read at every frame: a hot change holds
        self.classifier = classifier or FallClassifier.load()
        self._people: dict[int, _Person] = {}
        self._last_motion: dict[str, float] = {}
        self._inactive: dict[str, FallEvent] = {}
        self._now = float("-inf")

    def states(self) -> dict[int, State | None]:
        """Current state of every person the rule remembers (unseen fallen people included)."""
        return {tid: p.state for tid, p in self._people.items()}

    def down_boxes(self) -> dict[int, tuple[float, float, float, float]]:
        """Where each person the rule holds as falling or down was last seen, by track id:
        where a second look for them is worth its cost when no detection matched them."""
        return {tid: p.box for tid, p in self._people.items()
                if p.box is not None and p.state in ("falling", "on_floor", "lying")}

    def unseen_regions(self) -> np.ndarray:
        """(N, 4) boxes where people the rule still remembers but did not see in the last
        update were last seen: someone lying on the floor whom no detector finds any more.
        Pictures that leave the process blur these too, as no face or head box is there."""
        boxes = [p.box for p in self._people.values()
                 if p.box is not None and p.last_seen_s < self._now]
        return np.array(boxes, np.float64).reshape(-1, 4)

    def probabilities(self) -> dict[int, float]:
        """The classifier's p(fall) when each person's floor posture was last judged (NaN
        before that): why a fall was or was not called."""
        return {tid: p.probability for tid, p in self._people.items()}

    def adopt(self, events: list[FallEvent], at_s: float) -> list[FallEvent]:
        """A live camera's new run takes over the falls and long lies its earlier run left
        open (issue 14): each person they name (events of one stored track are one person)
        is held on the floor, unseen since ``at_s``, where the fall was seen (``location``),
        with those events open, as if this rule had lost sight of them lying there. So
        the long lie still fires on the first floor frame's clock, and the events end as
        any held person's do: someone up for ``recover_s`` where they lay whose track began
        there (``_helped_up``), or a new fall there (``_replaced_by``). A track that began
        there and is seen down is that person (``_take_over``): it carries the events on
        and ends them once up. Adopted people get track ids below 1, which no detection
        has; the events' ``track_id`` become those ids. Returns the events held."""
        people: dict[object, list[FallEvent]] = {}
        for event in events:
            if event.kind not in (EventKind.FALL, EventKind.LONG_LIE) or event.ended_s is not None:
                raise ValueError(f"only open falls and long lies can be adopted: {event}")
            who = event.track_id if event.track_id is not None else id(event)
            people.setdefault(who, []).append(event)
        held = []
        for mine in people.values():
            track_id = min([0, *self._people]) - 1
            person = _Person(track_id, state="on_floor", adopted=True, last_seen_s=at_s,
                             floor_since=min(e.started_s for e in mine), floor_flat=True)
            for event in mine:
                event.track_id = track_id
                person.hip = event.location or person.hip
                if event.kind == EventKind.FALL:
                    person.fall = event
                else:
                    person.long_lie = event
            self._people[track_id] = person
            held += mine
        return held

    def update(self, time_s: float, track_ids: np.ndarray, bodies: np.ndarray,
               weak: np.ndarray | None = None) -> list[FallEvent]:
        """bodies: (N, 11, 3) x, y pixels and score in FALL_JOINTS order; ids < 1 are skipped.
        ``weak`` marks bodies found only by a second look (a low score in a crop)."""
        self._now = max(self._now, time_s)
        events: list[FallEvent] = []
        seen: list[_Person] = []
        weak_rows = np.zeros(len(bodies), bool) if weak is None else np.asarray(weak, bool)
        self._in_frame = {int(i) for i in np.asarray(track_ids).tolist() if i >= 1}
        for track_id, body, faint in zip(np.asarray(track_ids).tolist(), bodies, weak_rows):
            if track_id < 1:
                continue
            person = self._people.setdefault(track_id, _Person(track_id))
            joints = np.asarray(body, np.float64)
            region = body_region(joints)
            if region is not None and person.box is not None \
                    and (faint or person.state in ("on_floor", "lying")):
                # Held down, or seen only weakly: the remembered region only grows (a weak
                # pose's joints cover part of the body), and every picture blurs all of it.
                region = (min(region[0], person.box[0]), min(region[1], person.box[1]),
                          max(region[2], person.box[2]), max(region[3], person.box[3]))
            person.box = region or person.box
            events += self._observe(person, time_s, posture(joints))
            seen.append(person)
        events += self._unseen(time_s, seen)
        events += self._inactivity(time_s, seen)
        return events

    def finish(self) -> list[FallEvent]:
        """Close every open event (end of a video, shutdown): a person still on the floor at the
        last update, anyone else when last seen."""
        closed = []
        for person in self._people.values():
            # Still on the floor (seen or not): the event lasts to the end of the footage.
            end = self._now if self._down(person) else person.last_seen_s
            for event in (person.fall, person.long_lie):
                if event is not None and event.ended_s is None:
                    event.ended_s = max(end, event.detected_s)
                    closed.append(event)
        for event in self._inactive.values():
            event.ended_s = max(self._now, event.detected_s)
            closed.append(event)
        self._people.clear()
        self._inactive.clear()
        return closed

    # -- one person -------------------------------------------------------------------------

    def _observe(self, person: _Person, t: float, p: Posture) -> list[FallEvent]:
        s = self.settings
        if p.seen < 4 or not np.isfinite(p.torso_angle):
            # Too little seen to judge for as long as a floor posture must hold (not one frame
            # with a few joints dropped): out of view on the way down, decided as if unseen.
            if person.state not in ("on_floor", "lying") \
                    and s.confirm_s <= t - person.last_seen_s <= s.lost_s:
                return self._decide(person, t)
            return self._check_long_lie(person, t)  # too little seen to judge this frame
        person.last_seen_s, person.hip = t, p.hip
        person.adopted = False  # seen (a second look found them): held as themselves again
        if person.first_hip is None:
            person.first_hip = p.hip
        person.longest = float(np.nanmax([person.longest, p.torso_length]))
        person.times.append(t)
        person.postures.append(p)
        while person.times and person.times[0] < t - s.window_s:
            person.times.popleft()
            person.postures.popleft()
        floor = self._on_floor(person, p)
        if p.torso_angle <= s.upright_angle and not floor and not self._low(person, p):
            return self._upright(person, t, p)
        if floor:
            return self._floor(person, t, flat=floor == "flat")
        if self._on_legs(person, p):  # bending, or a steep camera: up, but no reference
            return self._upright(person, t, p, reference=False)
        if person.state in ("upright", "recovered", None):
            person.state = "falling" if person.state is not None else None
        person.upright_since = None
        return self._check_long_lie(person, t)

    def _on_floor(self, person: _Person, p: Posture) -> Literal["flat", "low"] | None:
        """Hips well below where they were upright, and the body flat in the image: "flat"
        when the torso is tilted (lying), "low" when only the hips' height or a foreshortened
        torso says so (sitting or kneeling on the floor, but also a squat), None when not.

        Flat: a tilted torso, or hips level with the ankles, or a torso foreshortened to under
        ``floor_short`` of its upright length (a fall toward or away from the camera keeps the
        torso vertical in the image). A person first seen lying has no upright reference: then
        the torso angle with hips level with the ankles (or a wide body box) decides.
        """
        s, scale = self.settings, person.scale
        tilted = p.torso_angle >= s.floor_angle
        legs, knees = self._legs(person, p)
        standing, _ = self._standing_legs(person, p, legs, knees)
        flat = tilted and p.aspect >= s.flat_aspect and not standing >= s.flat_legs
        if not person.upright_hips or not np.isfinite(scale):
            lying = flat or (tilted and legs < s.floor_level)
            return "flat" if lying else None
        dropped = (p.hip[1] - float(np.median(person.upright_hips))) / scale >= s.floor_drop
        if flat or (dropped and tilted):
            return "flat"
        level = legs < s.floor_level
        short = p.torso_length / scale < s.floor_short
        # Hips at ankle height in a wide body box, the torso leaning: sitting or half lying on
        # the floor. A camera high in a room sees such hips barely lower in the image than
        # standing ones, so no drop is asked here.
        sprawled = level and p.aspect >= s.flat_aspect and p.torso_angle > s.upright_angle
        return "low" if (dropped and (level or short)) or sprawled else None

    @staticmethod
    def _unit(person: _Person, p: Posture) -> float:
        """A torso length in pixels: the person's upright one, else this frame's."""
        return person.scale if np.isfinite(person.scale) else p.torso_length

    def _legs(self, person: _Person, p: Posture) -> tuple[float, float]:
        """Hip and knee heights above the ankles, in torso lengths (NaN where not seen)."""
        unit = self._unit(person, p)
        if not unit > 0:
            return float("nan"), float("nan")
        return (p.ankle_y - p.hip[1]) / unit, (p.ankle_y - p.knee_y) / unit

    def _standing_legs(self, person: _Person, p: Posture, legs: float, knees: float
                       ) -> tuple[float, float]:
        """Hip and knee heights above the ankles as evidence of standing on the legs: as
        measured, or with the ankles out of view (a camera that cuts off the feet) twice the
        hips' height above the knees, the shin being about as long as the thigh.

        Only for "is this person up": an upright thigh shows hips held up by the legs (a bend),
        but a level one does not show hips at floor height (sitting on a chair has it too), so
        the floor tests keep the measured heights. ``legs``, ``knees``: as ``_legs`` gives.
        """
        unit = self._unit(person, p)
        if np.isfinite(legs) or not np.isfinite(p.knee_y) or not unit > 0:
            return legs, knees
        thigh = (p.knee_y - p.hip[1]) / unit
        return 2.0 * thigh, thigh

    def _on_legs(self, person: _Person, p: Posture) -> bool:
        """Hips high above the ankles and knees up: standing, whatever the torso does."""
        legs, knees = self._standing_legs(person, p, *self._legs(person, p))
        return bool(legs >= self.settings.stand_level and knees >= self.settings.knee_level)

    def _low(self, person: _Person, p: Posture) -> bool:
        """Hips dropped (sitting, crouching): not upright, so the reference is not updated."""
        scale = person.scale
        if not person.upright_hips or not np.isfinite(scale):
            return False
        drop = (p.hip[1] - float(np.median(person.upright_hips))) / scale
        return drop >= 0.5 * self.settings.floor_drop

    def _upright(self, person: _Person, t: float, p: Posture, reference: bool = True
                 ) -> list[FallEvent]:
        """Up: a fall can start from here, and ``recover_s`` of it ends a fall or a lie.
        ``reference``: the torso is upright, so its length and hip height are the person's
        scale and standing height (not while bending: the torso is foreshortened)."""
        s = self.settings
        if reference:
            person.upright_lengths.append(p.torso_length)
            person.upright_hips.append(p.hip[1])
        person.last_upright_s = t
        person.floor_since, person.pending = None, False
        if person.upright_since is None:
            person.upright_since = t
        if person.state not in ("on_floor", "lying"):
            person.state = "upright" if person.state != "recovered" else "recovered"
            return []
        if person.state == "lying" and person.long_lie is None:
            # Up from a lie no event was raised for: a fall can follow, once up for confirm_s
            # (not a single frame of pose flicker), not the whole recover_s.
            if t - person.upright_since >= s.confirm_s:
                person.state = "upright"
            return []
        if t - person.upright_since < s.recover_s:
            return []
        person.state = "recovered" if person.state == "on_floor" else "upright"
        return self._close(person, t)

    def _floor(self, person: _Person, t: float, flat: bool = True) -> list[FallEvent]:
        person.upright_since = None
        if person.floor_since is None:
            person.floor_since, person.floor_flat = t, False
            self._take_over(person)
        person.floor_flat |= flat
        if person.state in ("on_floor", "lying"):
            return self._check_long_lie(person, t)
        return self._decide(person, t)

    def _decide(self, person: _Person, t: float) -> list[FallEvent]:
        """Once the floor posture is ``confirm_s`` old (seen since or not): fall, or lying.

        Judged then, on the window as it is; but when the torso never lay flat (hips low:
        sitting or kneeling on the floor, or a squat) a fall is only raised once that posture
        has held ``low_confirm_s``: the bottom of a squat in exercise is over before it.
        """
        s = self.settings
        if person.floor_since is None or t - person.floor_since < s.confirm_s:
            return []
        if not person.pending:
            recent = (person.last_upright_s is not None
                      and person.floor_since - person.last_upright_s <= s.max_fall_s)
            features = window_features(np.array(person.times), list(person.postures),
                                       person.scale)
            person.probability = float(self.classifier.probability(features)[0])
            zone = self._zone_at(person.hip, ("bed", "chair"))
            if not recent or zone is not None or person.probability < s.min_probability:
                person.state = "lying"
                return []
            person.pending = True
        if not person.floor_flat and t - person.floor_since < s.low_confirm_s:
            return []  # judged a fall; raised if still down (or unseen) at low_confirm_s
        person.pending = False
        person.state = "on_floor"
        person.fall = FallEvent(EventKind.FALL, person.track_id, person.floor_since, t,
                                person.probability, self._zone_name(person.hip), person.hip)
        return [*self._replaced_by(person, t), person.fall]

    def _radius(self, person: _Person, other: _Person | None = None) -> float:
        """recovery_radius in pixels: torso lengths of this person, else of ``other`` (a
        person adopted from an earlier run was never measured here), else 1 px each."""
        scale = next((p.scale for p in (person, other)
                      if p is not None and np.isfinite(p.scale)), 1.0)
        return self.settings.recovery_radius * scale

    def _take_over(self, person: _Person) -> None:
        """A track first seen down where a person held on the floor lies unseen (lost from
        view moments ago, unseen past ``hold_unseen_s`` or adopted from an earlier run), which
        began there (not a carer who walked in and knelt down), is that person, whom the
        tracker gave a new id: it takes over their open events and their time on the floor
        (FallRule.adopt, ``_as_place``), so one person down is one long lie. A person seen in
        this same frame is someone else lying beside them, and keeps their own; a track seen
        up before it went down is a new fall there (``_replaced_by``)."""
        if person.fall is not None or person.long_lie is not None or person.first_hip is None \
                or person.last_upright_s is not None:
            return
        for other in list(self._people.values()):
            if other is person or other.track_id in self._in_frame or not (
                    other.adopted or self._down(other)):
                continue
            radius = self._radius(other, person)
            if all(np.hypot(at[0] - other.hip[0], at[1] - other.hip[1]) <= radius
                   for at in (person.hip, person.first_hip)):
                person.state, person.floor_flat = other.state, other.floor_flat
                person.fall, person.long_lie = other.fall, other.long_lie
                person.floor_since, person.probability = other.floor_since, other.probability
                if not person.upright_lengths:  # their size and standing height, if measured
                    person.upright_lengths.extend(other.upright_lengths)
                    person.upright_hips.extend(other.upright_hips)
                del self._people[other.track_id]
                return

    def _replaced_by(self, person: _Person, t: float) -> list[FallEvent]:
        """Someone held on the floor unseen where this person just fell, seen, is not lying
        there any more: their events end (one person on the floor is one open event, also
        on a camera that loops a recording or a person the tracker renamed)."""
        radius = self._radius(person)
        ended = []
        for other in list(self._people.values()):
            if other is person or other.last_seen_s >= t or not self._down(other):
                continue
            if np.hypot(other.hip[0] - person.hip[0], other.hip[1] - person.hip[1]) <= radius:
                other.state = "recovered"
                ended += self._close(other, t)
                del self._people[other.track_id]
        return ended

    def _down(self, person: _Person) -> bool:
        """On the floor in a way that can become a long lie: after a fall, or (unless the
        settings say otherwise) lying on the floor outside a bed or chair zone."""
        if person.state == "on_floor":
            return True
        return (person.state == "lying" and self.settings.long_lie_without_fall
                and person.floor_since is not None
                and self._zone_at(person.hip, ("bed", "chair")) is None)

    def _check_long_lie(self, person: _Person, t: float) -> list[FallEvent]:
        down = self._down(person)
        if person.long_lie is not None:  # open (_close forgets it): one per lie
            # Without a fall, lifted onto a bed or chair ends it: off the floor.
            return self._close(person, t) if person.fall is None and not down else []
        if not down:
            return []
        fall = person.fall
        since = fall.started_s if fall is not None else person.floor_since
        if since is None or t - since < self.settings.long_lie_s:
            return []
        if fall is not None:
            person.long_lie = FallEvent(EventKind.LONG_LIE, person.track_id, fall.started_s, t,
                                        fall.confidence, fall.zone, fall.location)
        else:  # no fall was called: the classifier's probability says how fall-like it was
            confidence = person.probability if np.isfinite(person.probability) else 0.0
            person.long_lie = FallEvent(EventKind.LONG_LIE, person.track_id, since, t, confidence,
                                        self._zone_name(person.hip), person.hip)
        return [person.long_lie]

    def _close(self, person: _Person, t: float) -> list[FallEvent]:
        closed = []
        for event in (person.fall, person.long_lie):
            if event is not None and event.ended_s is None:
                event.ended_s = max(t, event.detected_s)
                closed.append(event)
        person.fall = person.long_lie = None
        return closed

    # -- people not seen this frame ---------------------------------------------------------

    def _unseen(self, t: float, seen: list[_Person]) -> list[FallEvent]:
        s, events = self.settings, []
        seen_ids = {p.track_id for p in seen}
        for person in list(self._people.values()):
            if person.track_id in seen_ids:
                continue
            gone = t - person.last_seen_s
            if person.state not in ("on_floor", "lying") and gone <= s.lost_s:
                events += self._decide(person, t)  # lost on the way down: decide anyway
            if self._down(person):
                # Presumed on the floor: no time ends it (issue 14), only someone up there.
                events += self._check_long_lie(person, t)
                if self._helped_up(person, t, seen):
                    person.state = "recovered"
                    events += self._close(person, t)
                    del self._people[person.track_id]
                elif gone > s.hold_unseen_s and not person.adopted:
                    self._as_place(person)
            elif gone > s.lost_s:  # forgotten; an event still open ends when last seen
                events += self._close(person, person.last_seen_s)
                del self._people[person.track_id]
        return events + self._bound_held(t, seen_ids)

    @staticmethod
    def _as_place(person: _Person) -> None:
        """Unseen on the floor past ``hold_unseen_s``: the pose history goes (memory), the
        person, their time on the floor and their open events stay, held as a place the way
        a person adopted from an earlier run is (ended by someone up whose track began there,
        taken over by a track that began there and is seen down: ``_take_over``)."""
        person.adopted = True
        person.times.clear()
        person.postures.clear()
        person.anchor = None

    def _bound_held(self, t: float, seen_ids: set[int]) -> list[FallEvent]:
        """At most MAX_HELD people held on the floor unseen: past that the one unseen longest
        is let go and their events end now. A bound on memory and on open alerts for a
        camera the rule keeps misreading (a recording that loops where no new fall replaces
        the last, a picture of someone lying): never reached by people really down, whom the
        pose model finds at most 6 a frame. Logged as a warning."""
        held = [p for p in self._people.values()
                if p.track_id not in seen_ids and self._down(p)]
        ended: list[FallEvent] = []
        for person in sorted(held, key=lambda p: p.last_seen_s)[:max(0, len(held) - MAX_HELD)]:
            log.warning("falls: more than %d people held on the floor unseen; letting go of "
                        "track %d, unseen since %.1f s, and ending its events", MAX_HELD,
                        person.track_id, person.last_seen_s)
            ended += self._close(person, t)
            del self._people[person.track_id]
        return ended

    def _helped_up(self, person: _Person, t: float, seen: list[_Person]) -> bool:
        """Someone upright for recover_s where this unseen fallen person lay, whose track
        began there: they got up (the tracker gave them a new id). A carer who walked in
        from elsewhere and stands beside them began elsewhere: the fall stays open."""
        for other in seen:
            radius = self._radius(person, other)
            if other.upright_since is None or other.first_hip is None \
                    or t - other.upright_since < self.settings.recover_s:
                continue
            near = np.hypot(other.hip[0] - person.hip[0], other.hip[1] - person.hip[1])
            began = np.hypot(other.first_hip[0] - person.hip[0],
                             other.first_hip[1] - person.hip[1])
            # Adopted from an earlier run: where they lay is where the fall was seen, not
            # where they were last seen, so only the track's start is asked to be there.
            if (near <= radius or person.adopted) and began <= radius:
                return True
        return False

    # -- zones ------------------------------------------------------------------------------

    def _zone_at(self, point: tuple[float, float], kinds: tuple[str, ...]) -> Zone | None:
        return next((z for z in self.settings.zones if z.kind in kinds and z.contains(*point)),
                    None)

    def _zone_name(self, point: tuple[float, float]) -> str | None:
        zone = self._zone_at(point, ("bed", "chair", "floor"))
        return zone.name if zone else None

    def _inactivity(self, t: float, seen: list[_Person]) -> list[FallEvent]:
        events = []
        watched = [z for z in self.settings.zones if z.inactivity_minutes is not None]
        # Once per person, before the zones: a movement counts in every zone it is in
        # (a bed zone inside a room zone), not only in the first one looked at.
        moving = [p for p in seen if self._moved(p)] if watched else []
        for zone in watched:
            last = self._last_motion.setdefault(zone.name, t)
            if any(zone.contains(*person.hip) for person in moving):
                last = self._last_motion[zone.name] = t
            open_event = self._inactive.get(zone.name)
            if open_event is not None and last == t:
                open_event.ended_s = t
                events.append(self._inactive.pop(zone.name))
            elif open_event is None and t - last >= zone.inactivity_minutes * 60:
                self._inactive[zone.name] = FallEvent(EventKind.INACTIVITY, None, last, t, 1.0,
                                                      zone.name)
                events.append(self._inactive[zone.name])
        return events

    def _moved(self, person: _Person) -> bool:
        """Hip moved more than ``motion`` torso lengths since it last counted (or just arrived)."""
        scale = person.scale if np.isfinite(person.scale) else 50.0
        if person.anchor is None:
            person.anchor = person.hip
            return True
        dist = np.hypot(person.hip[0] - person.anchor[0], person.hip[1] - person.anchor[1])
        if dist >= self.settings.motion * scale:
            person.anchor = person.hip
            return True
        return False
