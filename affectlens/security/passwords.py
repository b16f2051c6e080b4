"""Password hashing with argon2id (argon2-cffi's RFC 9106 defaults) and the few rules a
password must meet. Unknown users are checked against a dummy hash, so a failed login takes
the same time whether or not the account exists."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 1024  # hashing is deliberately slow; a megabyte password must not be


class WeakPassword(ValueError):
    """The password breaks a rule; the message says which."""


@cache
def _hasher() -> PasswordHasher:
    return PasswordHasher()


@cache
def _dummy_hash() -> str:
    return _hasher().hash("not a password anyone has: equalises login timing")


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password may have at most {MAX_LENGTH} characters")
    if password.strip() != password or len(set(password)) < 4:
        raise WeakPassword("a password may not start or end with spaces or repeat one "
                           "or two characters")


def hash_password(password: str) -> str:
    check_strength(password)
    return _hasher().hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored``; with ``stored`` None (no such user) the same
    work is done and the answer is False."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher().verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False
