"""Group labels (race, gender) are read by evaluation code only: no other code names them."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import affectlens

PACKAGE = Path(affectlens.__file__).parent
EVALUATION = {PACKAGE / "eval", PACKAGE / "cli_eval.py"}
SENSITIVE = re.compile(r"(^|_)(race|ethnic|gender|skin|identity|embedding)", re.IGNORECASE)


def _identifiers(path: Path) -> set[str]:
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return {t.string for t in tokens if t.type == tokenize.NAME}


def test_no_runtime_code_names_a_sensitive_attribute() -> None:
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        if any(path == e or e in path.parents for e in EVALUATION):
            continue
        names = {n for n in _identifiers(path) if SENSITIVE.search(n)}
        if names:
            offenders[str(path.relative_to(PACKAGE))] = sorted(names)
    assert offenders == {}


def test_the_scan_would_see_one() -> None:
    """The scan itself works: the evaluation code does name the audit's group labels."""
    names = set().union(*(_identifiers(p) for p in (PACKAGE / "eval").rglob("*.py")))
    assert {"races", "genders"} <= names
