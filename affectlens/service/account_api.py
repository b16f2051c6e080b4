"""Routes for logging in and out, users, API tokens and the audit log. Who may call each is
decided by the guard (``access.ACCESS``); these only do the work and record it.

Part of the HTTP API, so here and not in affectlens/security (which it uses): from there it
made security and service import each other (the layers in docs/architecture.md)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import StreamingResponse

from affectlens.security.accounts import AccountError, Accounts, LoginRefused, Principal
from affectlens.security.audit import AuditLog
from affectlens.security.guard import CSRF_COOKIE, SESSION_COOKIE, principal_of
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
from affectlens.security.throttle import AttemptLimiter
from affectlens.service.schemas import MAX_ID
from affectlens.service.times import ZonedTime
from affectlens.store.accounts import User

Caller = Annotated[Principal, Depends(principal_of)]


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def unprocessable(error: AccountError, field: str) -> HTTPException:
    """A refusal the schema could not foresee, in the shape of every other 422: a list of
    errors, each naming its field (the API's documented ``detail``)."""
    return HTTPException(422, [{"type": "value_error", "loc": ["body", field],
                                "msg": str(error)}])


def account_router(accounts: Accounts, audit: AuditLog, limiter: AttemptLimiter) -> APIRouter:
    router = APIRouter()

    def throttled(request: Request) -> str:
        """The caller's address, unless it tried too many passwords lately (then 429)."""
        client = _client(request)
        wait = limiter.attempt(client)
        if wait:
            raise HTTPException(429, "too many login attempts from this address",
                                headers={"Retry-After": str(math.ceil(wait))})
        return client

    @router.post("/api/auth/login")
    def login(body: LoginIn, request: Request, response: Response) -> Me:
        """Starts a dashboard session (cookies); integrations use API tokens instead."""
        client = throttled(request)
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
        return start_session(user, request, response)

    def start_session(user: User, request: Request, response: Response) -> Me:
        cookie, csrf = accounts.open_session(user)
        secure = request.url.scheme == "https"
        lifetime = int(accounts.policy.session_lifetime.total_seconds())
        response.set_cookie(SESSION_COOKIE, cookie, max_age=lifetime, httponly=True,
                            samesite="strict", secure=secure)
        response.set_cookie(CSRF_COOKIE, csrf, max_age=lifetime, httponly=False,
                            samesite="strict", secure=secure)
        return Me(username=user.username, role=user.role, via="session", csrf_token=csrf)

    @router.post("/api/auth/password")
    def change_own_password(body: PasswordChange, request: Request, response: Response,
                            caller: Caller) -> Me:
        """A logged-in user sets a new password. A wrong current password counts as a failed
        login (throttled, and it locks the name like one); on success every session of the
        user ends, this one is replaced by a new one (new cookies and CSRF token)."""
        if caller.via != "session":
            raise HTTPException(403, "an API token has no password; an admin manages tokens")
        client = throttled(request)
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
        return start_session(user, request, response)

    @router.post("/api/auth/logout", status_code=204)
    def logout(request: Request, caller: Caller) -> Response:
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            accounts.close_session(cookie)
        audit.append(caller.name, "logout", f"user:{caller.name}")
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE)
        response.delete_cookie(CSRF_COOKIE)
        return response

    @router.get("/api/auth/me")
    def me(caller: Caller) -> Me:
        return Me(username=caller.name, role=caller.role, via=caller.via,
                  csrf_token=caller.csrf)

    @router.get("/api/users")
    def list_users() -> list[UserOut]:
        return [UserOut.model_validate(u) for u in accounts.users()]

    @router.post("/api/users", status_code=201)
    def add_user(body: UserIn, caller: Caller) -> UserOut:
        if accounts.user(body.username) is not None:
            raise HTTPException(409, f"user {body.username!r} exists")
        try:
            user = accounts.add_user(body.username, body.role, body.password)
        except AccountError as error:
            raise unprocessable(error, "password") from error
        audit.append(caller.name, "user.add", f"user:{user.username}", role=user.role)
        return UserOut.model_validate(user)

    @router.patch("/api/users/{username}")
    def change_user(username: Annotated[str, Path(max_length=64)], body: UserPatch,
                    caller: Caller) -> UserOut:
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
    def list_tokens() -> list[TokenOut]:
        return [TokenOut.model_validate(t) for t in accounts.tokens()]

    @router.post("/api/tokens", status_code=201)
    def add_token(body: TokenIn, caller: Caller) -> NewToken:
        expires = (accounts.clock() + timedelta(days=body.expires_in_days)
                   if body.expires_in_days else None)
        value, token = accounts.add_token(body.name, body.role, caller.name, expires)
        audit.append(caller.name, "token.add", f"token:{token.id}", name=token.name,
                     role=token.role)
        return NewToken(token=value, **TokenOut.model_validate(token).model_dump())

    @router.delete("/api/tokens/{token_id}", status_code=204)
    def revoke_token(token_id: Annotated[int, Path(ge=0, le=MAX_ID)], caller: Caller) -> Response:
        if accounts.revoke_token(token_id) is None:
            raise HTTPException(404, f"no token {token_id}")
        audit.append(caller.name, "token.revoke", f"token:{token_id}")
        return Response(status_code=204)

    @router.get("/api/audit")
    def audit_records(
        after_id: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
        since: ZonedTime | None = None,
        until: ZonedTime | None = None,
        action: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> list[AuditOut]:
        return [AuditOut.model_validate(r)
                for r in audit.records(after_id, since, until, action, limit)]

    @router.get("/api/audit/export", response_class=StreamingResponse)
    def export(caller: Caller) -> StreamingResponse:
        """Every record as JSON lines, oldest first; the export itself is recorded."""
        audit.append(caller.name, "audit.export", "audit_log")

        def lines() -> Iterator[bytes]:
            for record in audit.all_records():
                out = AuditOut.model_validate(record).model_dump(mode="json")
                yield (json.dumps(out, ensure_ascii=False) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson", headers={
            "Content-Disposition": 'attachment; filename="affectlens-audit.jsonl"'})

    @router.get("/api/audit/verify")
    def verify(expected_head: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None
               ) -> VerificationOut:
        result = audit.verify(expected_head)
        return VerificationOut(ok=result.ok, records=result.records, head=result.head,
                               problems=result.problems)

    return router
