"""Routes for logging in and out, users, API tokens and the audit log. Each declares who may
call it (``requires``), and the guard enforces that before it runs; these only do the work
and record it.

Part of the HTTP API, so here and not in affectlens/security (which it uses): from there it
made security and service import each other (the layers in docs/architecture.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from affectlens.security.access import ACCOUNT_HOLDERS, ONLY_ADMIN, ONLY_AUDITOR, requires
from affectlens.security.accounts import AccountError, Accounts, LoginRefused
from affectlens.security.guard import CSRF_COOKIE, SESSION_COOKIE
from affectlens.security.schemas import (
    AuditOut,
    LoginIn,
    Me,
    NewToken,
    PasswordChange,
    TokenIn,
    TokenOut,
    UserIn,
    UserOut,
    UserPatch,
    VerificationOut,
)
from affectlens.service.deps import AccountsDep, AuditDep, Caller, Services, ServicesDep
from affectlens.service.schemas import MAX_ID
from affectlens.service.times import ZonedTime
from affectlens.store.accounts import User

router = APIRouter()


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def unprocessable(error: AccountError, field: str) -> HTTPException:
    """A refusal the schema could not foresee, in the shape of every other 422: a list of
    errors, each naming its field (the API's documented ``detail``)."""
    return HTTPException(422, [{"type": "value_error", "loc": ["body", field],
                                "msg": str(error)}])


def throttled(request: Request, services: Services) -> str:
    """The caller's address, unless it tried too many passwords lately (then 429)."""
    client = _client(request)
    wait = services.login_limiter.attempt(client)
    if wait:
        raise HTTPException(429, "too many login attempts from this address",
                            headers={"Retry-After": str(math.ceil(wait))})
    return client


def start_session(accounts: Accounts, user: User, request: Request, response: Response) -> Me:
    cookie, csrf = accounts.open_session(user)
    secure = request.url.scheme == "https"
    lifetime = int(accounts.policy.session_lifetime.total_seconds())
    response.set_cookie(SESSION_COOKIE, cookie, max_age=lifetime, httponly=True,
                        samesite="strict", secure=secure)
    response.set_cookie(CSRF_COOKIE, csrf, max_age=lifetime, httponly=False,
                        samesite="strict", secure=secure)
    return Me(username=user.username, role=user.role, via="session", csrf_token=csrf)


@router.post("/api/auth/login")  # open: access.OPEN_PATHS
def login(body: LoginIn, request: Request, response: Response, services: ServicesDep,
          accounts: AccountsDep, audit: AuditDep) -> Me:
    """Starts a dashboard session (cookies); integrations use API tokens instead."""
    client = throttled(request, services)  # after the body is read: a 422 costs no attempt
    try:
        user = accounts.login(body.username, body.password)
    except LoginRefused as refused:
        locked = refused.retry_after_s is not None
        audit.append(f"anonymous@{client}", "login.locked" if locked else "login.failed",
                     f"user:{body.username}")
        if locked:
            raise HTTPException(429, str(refused), headers={
                "Retry-After": str(refused.retry_after_s)}) from refused
        raise HTTPException(401, str(refused)) from refused
    audit.append(user.username, "login.ok", f"user:{user.username}", client=client)
    return start_session(accounts, user, request, response)


@router.post("/api/auth/password")
@requires(ACCOUNT_HOLDERS)  # one's own, with the current one
def change_own_password(body: PasswordChange, request: Request, response: Response,
                        caller: Caller, accounts: AccountsDep, audit: AuditDep,
                        services: ServicesDep) -> Me:
    """A logged-in user sets a new password. A wrong current password counts as a failed
    login (throttled, and it locks the name like one); on success every session of the
    user ends, this one is replaced by a new one (new cookies and CSRF token)."""
    if caller.via != "session":
        raise HTTPException(403, "an API token has no password; an admin manages tokens")
    client = throttled(request, services)
    try:
        accounts.login(caller.name, body.current_password)
    except LoginRefused as refused:
        audit.append(caller.name, "password.change_failed", f"user:{caller.name}",
                     client=client)
        if refused.retry_after_s is not None:
            raise HTTPException(429, str(refused), headers={
                "Retry-After": str(refused.retry_after_s)}) from refused
        raise HTTPException(403, "the current password is wrong") from refused
    try:
        user = accounts.change_user(caller.name, password=body.new_password)
    except AccountError as error:
        raise unprocessable(error, "new_password") from error
    audit.append(caller.name, "password.change", f"user:{caller.name}", client=client)
    return start_session(accounts, user, request, response)


@router.post("/api/auth/logout", status_code=204)
@requires(ACCOUNT_HOLDERS)
def logout(request: Request, caller: Caller, accounts: AccountsDep, audit: AuditDep
           ) -> Response:
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        accounts.close_session(cookie)
    audit.append(caller.name, "logout", f"user:{caller.name}")
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/api/auth/me")
@requires(ACCOUNT_HOLDERS)
def me(caller: Caller) -> Me:
    return Me(username=caller.name, role=caller.role, via=caller.via,
              csrf_token=caller.csrf)


@router.get("/api/users")
@requires(ONLY_ADMIN)
def list_users(accounts: AccountsDep) -> list[UserOut]:
    return [UserOut.model_validate(u) for u in accounts.users()]


@router.post("/api/users", status_code=201)
@requires(ONLY_ADMIN)
def add_user(body: UserIn, caller: Caller, accounts: AccountsDep, audit: AuditDep) -> UserOut:
    if accounts.user(body.username) is not None:
        raise HTTPException(409, f"user {body.username!r} exists")
    try:
        user = accounts.add_user(body.username, body.role, body.password)
    except AccountError as error:
        raise unprocessable(error, "password") from error
    audit.append(caller.name, "user.add", f"user:{user.username}", role=user.role)
    return UserOut.model_validate(user)


@router.patch("/api/users/{username}")
@requires(ONLY_ADMIN)
def change_user(username: Annotated[str, Path(max_length=64)], body: UserPatch,
                caller: Caller, accounts: AccountsDep, audit: AuditDep) -> UserOut:
    user = accounts.user(username)
    if user is None:
        raise HTTPException(404, f"no user {username!r}")
    demoted = (body.role not in (None, "admin")) or body.enabled is False
    admins = [u for u in accounts.users() if u.role == "admin" and u.enabled]
    if user.role == "admin" and demoted and len(admins) <= 1:
        raise HTTPException(409, "this is the last enabled admin; make another first")
    try:
        changed = accounts.change_user(username, body.role, body.enabled, body.password)
    except AccountError as error:
        raise unprocessable(error, "password") from error
    fields = sorted(body.model_dump(exclude_none=True))
    audit.append(caller.name, "user.change", f"user:{username}", fields=fields,
                 role=changed.role, enabled=changed.enabled)
    return UserOut.model_validate(changed)


@router.get("/api/tokens")
@requires(ONLY_ADMIN)
def list_tokens(accounts: AccountsDep) -> list[TokenOut]:
    return [TokenOut.model_validate(t) for t in accounts.tokens()]


@router.post("/api/tokens", status_code=201)
@requires(ONLY_ADMIN)
def add_token(body: TokenIn, caller: Caller, accounts: AccountsDep, audit: AuditDep
              ) -> NewToken:
    expires = (accounts.clock() + timedelta(days=body.expires_in_days)
               if body.expires_in_days else None)
    value, token = accounts.add_token(body.name, body.role, caller.name, expires)
    audit.append(caller.name, "token.add", f"token:{token.id}", name=token.name,
                 role=token.role)
    return NewToken(token=value, **TokenOut.model_validate(token).model_dump())


@router.delete("/api/tokens/{token_id}", status_code=204)
@requires(ONLY_ADMIN)
def revoke_token(token_id: Annotated[int, Path(ge=0, le=MAX_ID)], caller: Caller,
                 accounts: AccountsDep, audit: AuditDep) -> Response:
    if accounts.revoke_token(token_id) is None:
        raise HTTPException(404, f"no token {token_id}")
    audit.append(caller.name, "token.revoke", f"token:{token_id}")
    return Response(status_code=204)


@router.get("/api/audit")
@requires(ONLY_AUDITOR)
def audit_records(
    audit: AuditDep,
    after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    since: ZonedTime | None = None,
    until: ZonedTime | None = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> list[AuditOut]:
    return [AuditOut.model_validate(r)
            for r in audit.records(after_id, since, until, action, limit)]


@router.get("/api/audit/export", response_class=StreamingResponse)
@requires(ONLY_AUDITOR)
def export(caller: Caller, audit: AuditDep) -> StreamingResponse:
    """Every record as JSON lines, oldest first; the export itself is recorded."""
    audit.append(caller.name, "audit.export", "audit_log")

    def lines() -> Iterator[bytes]:
        for record in audit.all_records():
            out = AuditOut.model_validate(record).model_dump(mode="json")
            yield (json.dumps(out, ensure_ascii=False) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
        "Content-Disposition": 'attachment; filename="affectlens-audit.jsonl"'})


@router.get("/api/audit/verify")
@requires(ONLY_AUDITOR)
def verify(audit: AuditDep,
           expected_head: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None
           ) -> VerificationOut:
    result = audit.verify(expected_head)
    return VerificationOut(ok=result.ok, records=result.records, head=result.head,
                           problems=result.problems)

