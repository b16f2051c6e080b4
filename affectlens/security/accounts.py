"""Users, login sessions and API tokens over the Store, and the per-name login lockout.

Secrets never reach the database: passwords as argon2id hashes, session ids and tokens as
SHA-256 digests (they are 256-bit random values, so a fast digest suffices). The clock is
passed in so that lockout and expiry are tested without waiting.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from affectlens.errors import AffectlensError
from affectlens.security.passwords import hash_password, verify_password
from affectlens.store import Store
from affectlens.store.accounts import ROLES, ApiToken, LoginSession, LoginThrottle, User
from affectlens.store.db import now

Clock = Callable[[], datetime]
USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
TOKEN_PREFIX = "alt_"


class AccountError(AffectlensError):
    """A refused account change: bad name or role, weak password, unknown user."""


class LoginRefused(AffectlensError):
    """Wrong name or password, or the name is locked; ``retry_after_s`` when locked."""

    def __init__(self, message: str, retry_after_s: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Principal:
    """Who is calling: a logged-in user (``via="session"``, with the session's CSRF token)
    or an integration's API token (``via="token"``)."""

    name: str
    role: str
    via: str
    csrf: str | None = None


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5
    failure_window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)
    session_lifetime: timedelta = timedelta(hours=12)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise AccountError("a user name is 1-64 of a-z, 0-9, '_', '.', '-', starting with a "
                           "letter or digit")
    return username


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AccountError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    return role


@dataclass(frozen=True)
class _Known:
    """A caller found in the database, kept for ``Accounts.cache_s``."""

    principal: Principal
    expires_at: datetime | None  # the session's or token's own end, checked on every use
    generation: int  # Store.generation when it was read
    read_at: float  # time.monotonic() when it was read


class Accounts:
    """The account operations the API and the command line share.

    With ``cache_s`` > 0 (the service: ``SecuritySettings.principal_cache_s``) a caller found
    by ``token_principal`` or ``session_principal`` is remembered, so that the API does not
    ask the database on every request (``known``). A remembered caller is forgotten at once
    when anything is written through this store (a revoke, a logout, a disabled user, a new
    role or password all are writes), when its session or token expires, and in any case
    after ``cache_s`` seconds: a change made by another process (``affectlens token revoke``
    on the command line) takes effect within that time. Refusals are never remembered."""

    MAX_KNOWN = 4096  # callers remembered at most; beyond it the memory starts again

    def __init__(self, store: Store, policy: LoginPolicy | None = None,
                 clock: Clock = now, cache_s: float = 0.0) -> None:
        self.store = store
        self.policy = policy or LoginPolicy()
        self.clock = clock
        self.cache_s = cache_s
        self._known: dict[tuple[str, str], _Known] = {}

    def known(self, via: str, secret: str) -> Principal | None:
        """The caller behind a session cookie or token (``via``: "session" or "token") as
        remembered, without the database; None: not remembered (ask ``token_principal`` or
        ``session_principal``), which is not a refusal."""
        if self.cache_s <= 0:
            return None
        key = (via, digest(secret))
        entry = self._known.get(key)
        if entry is None:
            return None
        if (entry.generation != self.store.generation
                or time.monotonic() - entry.read_at >= self.cache_s
                or (entry.expires_at is not None and entry.expires_at <= self.clock())):
            self._known.pop(key, None)
            return None
        return entry.principal

    def principal(self, via: str, secret: str) -> Principal | None:
        """The caller behind a session cookie (``via`` "session") or an API token ("token"),
        from the database; None: refused."""
        return self.token_principal(secret) if via == "token" else self.session_principal(secret)

    def _remember(self, via: str, secret_digest: str, principal: Principal,
                  expires_at: datetime | None, generation: int, read_at: float) -> Principal:
        if self.cache_s > 0:
            if len(self._known) >= self.MAX_KNOWN:
                self._known.clear()
            self._known[(via, secret_digest)] = _Known(principal, expires_at, generation,
                                                       read_at)
        return principal

    # users ---------------------------------------------------------------------------------

    def add_user(self, username: str, role: str, password: str) -> User:
        check_username(username)
        check_role(role)
        try:
            hashed = hash_password(password)
        except ValueError as error:
            raise AccountError(str(error)) from error
        if self.user(username) is not None:
            raise AccountError(f"user {username!r} exists")
        user = User(username=username, role=role, password_hash=hashed, enabled=True,
                    created_at=self.clock())
        with self.store.session() as session:
            session.add(user)
        return user

    def user(self, username: str) -> User | None:
        with self.store.session() as session:
            return session.scalar(select(User).where(User.username == username))

    def users(self) -> list[User]:
        with self.store.session() as session:
            return list(session.scalars(select(User).order_by(User.id)))

    def change_user(self, username: str, role: str | None = None, enabled: bool | None = None,
                    password: str | None = None) -> User:
        """Change a role, enable/disable, or set a password; a disabled user, a new role or
        a new password ends the user's sessions."""
        hashed = None
        if password is not None:
            try:
                hashed = hash_password(password)
            except ValueError as error:
                raise AccountError(str(error)) from error
        with self.store.session() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                raise AccountError(f"no user {username!r}")
            ends_sessions = (hashed is not None or enabled is False
                             or (role is not None and check_role(role) != user.role))
            if role is not None:
                user.role = check_role(role)
            if enabled is not None:
                user.enabled = enabled
            if hashed is not None:
                user.password_hash = hashed
            if ends_sessions:  # an empty or same-value change logs no one out
                session.execute(delete(LoginSession).where(LoginSession.user_id == user.id))
        return user

    # logins and sessions -------------------------------------------------------------------

    def login(self, username: str, password: str) -> User:
        """The user if the password is right and the name is not locked; otherwise
        LoginRefused. Failures count per name, existing or not."""
        key = username.lower()[:64]
        at = self.clock()
        with self.store.session() as session:
            throttle = session.get(LoginThrottle, key)
            if throttle is not None and throttle.locked_until is not None \
                    and throttle.locked_until > at:
                wait = max(1, math.ceil((throttle.locked_until - at).total_seconds()))
                raise LoginRefused(f"too many failed logins: locked for {wait} s", wait)
            user = session.scalar(select(User).where(User.username == username))
            stored = user.password_hash if user is not None and user.enabled else None
            if verify_password(stored, password):
                if throttle is not None:
                    session.delete(throttle)
                return user
            if throttle is None:
                throttle = LoginThrottle(username=key, failures=0, last_failure_at=at)
                session.add(throttle)
            elif at - throttle.last_failure_at > self.policy.failure_window:
                throttle.failures = 0
            throttle.failures += 1
            throttle.last_failure_at = at
            if throttle.failures >= self.policy.max_failures:
                throttle.locked_until = at + self.policy.lockout
                throttle.failures = 0
        raise LoginRefused("wrong user name or password")

    def open_session(self, user: User) -> tuple[str, str]:
        """A new session for ``user``: (the cookie's value, the session's CSRF token)."""
        cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        at = self.clock()
        with self.store.session() as session:
            session.execute(delete(LoginSession).where(LoginSession.expires_at <= at))
            session.add(LoginSession(digest=digest(cookie), user_id=user.id, csrf=csrf,
                                     created_at=at,
                                     expires_at=at + self.policy.session_lifetime))
        return cookie, csrf

    def session_principal(self, cookie: str) -> Principal | None:
        generation, read_at = self.store.generation, time.monotonic()  # before the read
        key = digest(cookie)
        query = (select(LoginSession, User).join(User, User.id == LoginSession.user_id)
                 .where(LoginSession.digest == key))
        with self.store.session() as session:
            row = session.execute(query).first()
        if row is None:
            return None
        login, user = row
        if login.expires_at <= self.clock() or not user.enabled:
            return None
        return self._remember("session", key, Principal(user.username, user.role, "session",
                                                        login.csrf),
                              login.expires_at, generation, read_at)

    def close_session(self, cookie: str) -> None:
        with self.store.session() as session:
            session.execute(delete(LoginSession).where(LoginSession.digest == digest(cookie)))

    # API tokens ----------------------------------------------------------------------------

    def add_token(self, name: str, role: str, created_by: str,
                  expires_at: datetime | None = None) -> tuple[str, ApiToken]:
        """A new token: (its value, shown once and never stored; its record)."""
        if not 1 <= len(name) <= 100:
            raise AccountError("a token's name has 1-100 characters")
        check_role(role)
        value = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token = ApiToken(name=name, role=role, digest=digest(value), created_at=self.clock(),
                         created_by=created_by, expires_at=expires_at)
        with self.store.session() as session:
            session.add(token)
        return value, token

    def tokens(self) -> list[ApiToken]:
        with self.store.session() as session:
            return list(session.scalars(select(ApiToken).order_by(ApiToken.id)))

    def revoke_token(self, token_id: int) -> ApiToken | None:
        with self.store.session() as session:
            token = session.get(ApiToken, token_id)
            if token is not None and token.revoked_at is None:
                token.revoked_at = self.clock()
        return token

    def token_principal(self, value: str) -> Principal | None:
        if not value.startswith(TOKEN_PREFIX) or len(value) > 200:
            return None
        generation, read_at = self.store.generation, time.monotonic()  # before the read
        key = digest(value)
        with self.store.session() as session:
            token = session.scalar(select(ApiToken).where(ApiToken.digest == key))
        if token is None or token.revoked_at is not None:
            return None
        if token.expires_at is not None and token.expires_at <= self.clock():
            return None
        return self._remember("token", key, Principal(f"token:{token.id}:{token.name}",
                                                      token.role, "token"),
                              token.expires_at, generation, read_at)
