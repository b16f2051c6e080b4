"""Times in query strings (``since``, ``until``): ISO 8601 with a time zone, nothing else.

pydantic's datetime also takes a bare number as Unix seconds, so ``?until=0.5`` was taken
for 1970 and answered as if meant; a time without a zone is ambiguous on a server whose
clock zone is not the caller's. Both are a 422 naming the parameter.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BeforeValidator

EXAMPLE = "2026-11-27T10:00:00Z"


def iso_time(value: object) -> datetime:
    """``value`` as an aware datetime; ValueError (a 422 naming the field) otherwise."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be an ISO 8601 time with a time zone, e.g. {EXAMPLE}"
                             ) from None
    else:
        raise ValueError(f"must be an ISO 8601 time with a time zone, e.g. {EXAMPLE}")
    if parsed.tzinfo is None:
        raise ValueError(f"needs a time zone, e.g. {EXAMPLE}")
    return parsed


ZonedTime = Annotated[datetime, BeforeValidator(iso_time)]
