"""What the account, token and audit routes accept and return. Secrets are accepted, never
returned, except a new token's value, once."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from affectlens.security.passwords import MAX_LENGTH, check_strength

Role = Literal["admin", "staff", "auditor", "screen", "metrics"]
Username = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")


def _strong(password: str) -> str:
    """The password rules (passwords.check_strength) as a validation error of the field, so
    that a weak password is the usual 422 with a ``detail`` list naming it."""
    check_strength(password)  # WeakPassword is a ValueError: pydantic reports its message
    return password


NewPassword = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH),
                        AfterValidator(_strong)]


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class Me(BaseModel):
    username: str
    role: Role
    via: Literal["session", "token"]
    csrf_token: str | None = None  # send it as X-CSRF-Token with every change


class UserBase(BaseModel):
    """What an admin may set on a user, in the shape of a change (left out: as it is);
    ``UserIn`` makes them required for a new user, ``UserPatch`` adds what only a change
    sets. The password rules are ``NewPassword``'s, once."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    password: NewPassword | None = None


class UserIn(UserBase):
    username: str = Username
    role: Role
    password: NewPassword


class PasswordChange(BaseModel):
    """A logged-in user's own new password; the current one proves it is them."""

    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: NewPassword


class UserPatch(UserBase):
    enabled: bool | None = None


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    username: str
    role: Role
    enabled: bool
    created_at: datetime


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[\w .:-]+$")
    role: Role
    expires_in_days: float | None = Field(None, gt=0, le=3650)


class TokenOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    role: Role
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None


class NewToken(TokenOut):
    token: str  # shown once: only its digest is stored


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: str  # canonical JSON, exactly as hashed
    prev_hash: str
    hash: str


class VerificationOut(BaseModel):
    ok: bool
    records: int
    head: str
    problems: list[str]
