"""The purpose gate and the hard lines (issue 6; the README's "Hard lines").

Every camera and job declares a purpose. Expression analysis runs only for the care and
safety of the people filmed or for consented research; anonymous statistics get counts and
age bands over at least k people. Some requests are refused whatever the purpose, and the
refusal says why: inferring race or ethnicity (or religion, politics, sexual orientation),
identifying or recognising people, danger or criminality scores, and expression analysis to
monitor staff, pupils or workers.

``refusal(text)`` reads a key or value the way a person would write it (``race_detection``,
``faceEmbedding``, ``staff-monitoring``) and returns the reason, or None.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from affectlens.vocabulary import EXPRESSION_PURPOSES, VOICE_PURPOSES, Purpose, values

PURPOSES = values(Purpose)

_SENSITIVE = frozenset({
    "race", "races", "racial", "ethnic", "ethnicity", "ethnicities", "skintone", "religion",
    "religious", "politics", "political", "sexuality", "orientation", "lgbt",
})
_IDENTIFYING = frozenset({
    "identity", "identities", "identify", "identification", "recognition", "recognise",
    "recognize", "faceid", "watchlist", "blacklist", "blocklist", "reid", "reidentify",
    "reidentification", "embedding", "embeddings", "faceprint", "biometric", "biometrics",
})
_SCORING = frozenset({
    "danger", "dangerous", "dangerousness", "criminal", "criminality", "crime", "threat",
    "suspicious", "suspect", "violent", "violence",
})
_WATCHED = frozenset({
    "staff", "employee", "employees", "worker", "workers", "workforce", "pupil", "pupils",
    "student", "students", "teacher", "teachers",
})
_WATCHING = frozenset({
    "monitoring", "monitor", "surveillance", "productivity", "performance", "attention",
    "engagement", "tracking",
})
WHY = {
    "sensitive": "refused: affectlens never infers race, ethnicity, religion, politics or "
                 "sexual orientation (the README's hard lines)",
    "identifying": "refused: affectlens never identifies, recognises or matches people, and "
                   "keeps no face embeddings or watchlists (the README's hard lines)",
    "scoring": "refused: affectlens computes no danger, threat or criminality scores "
               "(the README's hard lines)",
    "watching": "refused: expression analysis may not be used to monitor staff, pupils or "
                f"workers; purposes allowed are {', '.join(PURPOSES[:-1])} and {PURPOSES[-1]}",
}
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def words(text: str) -> set[str]:
    """``faceEmbedding-v2`` -> {"face", "embedding", "v", "2", "faceembedding"...}: the
    parts and each adjacent pair joined, lower case."""
    parts = [p.lower() for p in _WORD.findall(text)]
    return set(parts) | {a + b for a, b in itertools.pairwise(parts)}


def refusal(text: str) -> str | None:
    """The reason ``text`` (a key or value in a configuration) crosses a hard line."""
    found = words(text)
    if found & _SENSITIVE:
        return WHY["sensitive"]
    if found & _SCORING:
        return WHY["scoring"]
    if found & _IDENTIFYING:
        return WHY["identifying"]
    if found & _WATCHED and found & _WATCHING:
        return WHY["watching"]
    return None


def refusals(config: Mapping[str, object], where: tuple[str, ...] = ()
             ) -> list[tuple[tuple[str, ...], str]]:
    """Every (path, reason) in a nested configuration: keys, and string values."""
    found: list[tuple[tuple[str, ...], str]] = []
    for key, value in config.items():
        path = (*where, str(key))
        reason = refusal(str(key))
        if reason is None and isinstance(value, str):
            reason = refusal(value)
        if reason is not None:
            found.append((path, reason))
        if isinstance(value, Mapping):
            found.extend(refusals(value, path))
        elif isinstance(value, list | tuple):
            found.extend(_in_list(value, path))
    return found


def _in_list(values: Iterable[object], where: tuple[str, ...]
             ) -> list[tuple[tuple[str, ...], str]]:
    found = []
    for index, value in enumerate(values):
        if isinstance(value, Mapping):
            found.extend(refusals(value, (*where, str(index))))
        elif isinstance(value, str) and (reason := refusal(value)) is not None:
            found.append(((*where, str(index)), reason))
    return found


def check_config(config: Mapping[str, object]) -> None:
    """Raises ValueError naming each place a configuration crosses a hard line, and why."""
    found = refusals(config)
    if found:
        raise ValueError("; ".join(f"{'.'.join(path)}: {reason}" for path, reason in found))


def expression_allowed(purpose: str) -> bool:
    """Whether a camera or job with this purpose may run expression analysis."""
    return purpose in EXPRESSION_PURPOSES


def voice_allowed(purpose: str) -> bool:
    """Whether a job with this purpose may analyse tone of voice."""
    return purpose in VOICE_PURPOSES


# Query parameters that carry a credential in many cameras' HTTP and RTSP URLs.
SECRET_PARAMETER = re.compile(r"pass|pwd|secret|token|key|auth|sig", re.IGNORECASE)


def redact_url(url: str) -> str:
    """``rtsp://user:secret@host/x?pwd=abc`` -> ``rtsp://user:***@host/x?pwd=***``: stream
    passwords, in the address or in a query parameter named like one, are shown to admins
    only and never written to the audit log."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        parts = parts._replace(netloc=f"{userinfo.split(':', 1)[0]}:***@{host}")
    if parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        if any(SECRET_PARAMETER.search(name) for name, _ in pairs):
            hidden = [(n, "***" if SECRET_PARAMETER.search(n) else v) for n, v in pairs]
            parts = parts._replace(query=urlencode(hidden, safe="*"))
    return urlunsplit(parts)
