"""The ASGI guard in front of the whole app: security headers, a request body limit,
authentication (session cookie or bearer token), the role check against the roles the
matched route declares (``access.requires``; a route that declares none is refused to all)
and CSRF protection for cookie-authenticated changes.

It is plain ASGI rather than a route dependency so that nothing escapes it: mounted static
files, routes added after ``create_app``, websockets and streaming media all
pass through it. Anonymous callers learn nothing about which routes exist (401 everywhere
but the open paths).

A websocket or a streaming response (the MJPEG preview) outlives the check made when it
opened, so the guard checks its caller again every ``recheck_s`` while it lasts: after a
logout, an expired session, a revoked token, a disabled account or a role that no longer
may use the route, it is ended (a websocket closed with code 1008, a stream's body ended).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import quote, urlsplit

from fastapi import HTTPException
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # FastAPI before lazily included routers: app.routes is already flat
    def iter_route_contexts(routes: Sequence[BaseRoute]) -> Sequence[BaseRoute]:  # type: ignore[misc]
        return routes

from affectlens.security.access import OPEN_PATHS, PAGES, roles_of
from affectlens.security.accounts import Accounts, Clock, LoginPolicy, Principal
from affectlens.store.db import now

log = logging.getLogger(__name__)
SESSION_COOKIE = "affectlens_session"
CSRF_COOKIE = "affectlens_csrf"
CSRF_HEADER = "x-csrf-token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_MATCHED = 1024  # paths whose route is remembered; beyond it the memory starts again
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
       "object-src 'none'")
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


@dataclass(frozen=True)
class SecuritySettings:
    """What ``create_app`` needs to protect itself; the defaults suit a site."""

    policy: LoginPolicy = field(default_factory=LoginPolicy)
    max_body_bytes: int = 64 * 1024  # camera forms and acknowledgements are tiny
    login_attempts_per_minute: int = 10  # per client address, before the per-name lockout
    camera_tests_per_minute: int = 10  # connection tests, all admins together (a port scan)
    recheck_s: float = 5.0  # how often an open websocket or stream checks its caller again
    # How long a caller found in the database is trusted without asking it again, at most
    # (Accounts.known): changes made through this service end it at once, changes made by
    # another process (the command line) within this time.
    principal_cache_s: float = 2.0
    clock: Clock = now  # tests pass their own to expire sessions and lockouts


def flat_routes(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """Every route with its full path, included routers opened up."""
    return list(iter_route_contexts(routes))


def principal_of(connection: HTTPConnection) -> Principal:
    """The caller the guard let in (a route dependency)."""
    principal = connection.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):
        raise HTTPException(401, "not logged in")
    return principal


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _cookie(scope: Scope, name: str) -> str | None:
    raw = _header(scope, b"cookie")
    if not raw:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(raw)
    except Exception:  # a malformed Cookie header is no login, not a 500
        return None
    morsel = cookies.get(name)
    return morsel.value if morsel is not None else None


def _credentials(scope: Scope) -> tuple[str, str] | None:
    """("token", the bearer token) or ("session", the session cookie); None: neither (a
    request with another Authorization scheme has no login, whatever its cookies)."""
    authorization = _header(scope, b"authorization")
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        return ("token", value.strip()) if scheme.lower() == "bearer" else None
    cookie = _cookie(scope, SESSION_COOKIE)
    return ("session", cookie) if cookie else None


def same_origin(scope: Scope) -> bool:
    """False when the browser says the request comes from another site's page: another
    host or port, or another scheme (an ``https://`` page is another origin than this
    ``http://`` service; behind a TLS proxy the scheme is the one its X-Forwarded-Proto
    gives, from ``trusted_proxies`` only)."""
    origin = _header(scope, b"origin")
    if origin is None:
        return True  # not a browser, or a same-origin GET; SameSite=Strict covers cookies
    parts = urlsplit(origin)
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"),
                                                 scope.get("scheme", "http"))
    return parts.scheme == scheme and parts.netloc == (_header(scope, b"host") or "")


def cross_site(scope: Scope) -> str:
    """The refusal, with a hint where only the scheme differs: an https page in front of
    this http service is a TLS proxy whose X-Forwarded-Proto is not believed."""
    origin = urlsplit(_header(scope, b"origin") or "")
    if origin.netloc == (_header(scope, b"host") or "") and origin.scheme == "https":
        return ("cross-site request refused: the page is https but this service was reached "
                "over http (behind a TLS proxy, name it in the site config's trusted_proxies)")
    return "cross-site request refused"


class Guard:
    """ASGI middleware; ``routes`` is read on each request so later routes are covered."""

    def __init__(self, app: ASGIApp, routes: Callable[[], Sequence[BaseRoute]],
                 accounts: Accounts, settings: SecuritySettings) -> None:
        self.app = app
        self.routes = routes
        self.accounts = accounts
        self.settings = settings
        self._flat: tuple[int, int, list[BaseRoute]] = (0, -1, [])  # id, length, flat routes
        # The route each (type, method, path) matched, for the flat routes above: matching
        # walked every route's regular expression on each request.
        self._matched: dict[tuple[str, str, str], BaseRoute | None] = {}
        # Database look-ups of a caller in progress, by (via, secret, Store.generation): a
        # burst of requests with one token waits for one query, not one thread each.
        self._looking: dict[tuple[str, str, int], asyncio.Future[Principal | None]] = {}

    def _flat_routes(self) -> list[BaseRoute]:
        """``flat_routes`` of the app's routes, made again only when that list is another
        or has grown or shrunk (a route added after ``create_app``): opening the included
        routers on every request was a tenth of ``/api/live``'s CPU time."""
        routes = self.routes()
        known_id, known_length, flat = self._flat
        if known_id != id(routes) or known_length != len(routes):
            flat = flat_routes(routes)
            self._flat = (id(routes), len(routes), flat)
            self._matched = {}
        return flat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            send = self._with_headers(scope, send)
            receive = await self._bounded(scope, receive, send)
            if receive is None:
                return
        try:
            principal = await self._authenticate(scope)
        except SQLAlchemyError:
            log.exception("cannot check the caller: the database is unavailable")
            await self._refuse(scope, send, 503, "the database cannot be reached; try again")
            return
        if principal is not None:
            scope.setdefault("state", {})["principal"] = principal
        refusal = self._refusal(scope, principal)
        if refusal is not None:
            await self._refuse(scope, send, *refusal)
            return
        if principal is None:  # an open path
            await self.app(scope, receive, send)
            return
        watch = _Watch(self, scope, receive, send)
        try:
            await self.app(scope, watch.receive, watch.send)
        finally:
            await watch.stop()

    async def still_allowed(self, scope: Scope) -> bool:
        """The caller of an open connection, checked again; True when the database cannot
        say (a connection is not cut for an outage)."""
        try:
            principal = await self._authenticate(scope)
        except SQLAlchemyError:
            log.warning("cannot check an open connection's caller: the database is unavailable")
            return True
        return principal is not None and self._refusal(scope, principal) is None

    # deciding ------------------------------------------------------------------------------

    async def _authenticate(self, scope: Scope) -> Principal | None:
        """The caller, as the accounts remember it (no database, no thread: the common case
        under load, and every recheck of an open websocket) or else looked up in a worker
        thread."""
        credentials = _credentials(scope)
        if credentials is None:
            return None
        known = self.accounts.known(*credentials)
        if known is not None:
            return known
        # Shared only with look-ups begun since the last write through the store, so that
        # none begun before a revoke or a logout answers a request that came after it.
        key = (*credentials, self.accounts.store.generation)
        looking = self._looking.get(key)
        if looking is None:
            looking = asyncio.ensure_future(run_in_threadpool(self.accounts.principal,
                                                              *credentials))
            self._looking[key] = looking
            looking.add_done_callback(lambda _: self._looking.pop(key, None))
        return await asyncio.shield(looking)  # a caller that leaves does not cancel it

    def _route(self, scope: Scope) -> BaseRoute | None:
        """The route a request matches (a mount for the files under it), or None. A HEAD is
        matched as the GET it asks about, so a role that may not GET a route gets the same
        403 for HEAD (the router's 405 told it the route exists)."""
        if scope["type"] == "http" and scope["method"] == "HEAD":
            scope = {**scope, "method": "GET"}
        flat = self._flat_routes()
        key = (scope["type"], scope.get("method", ""), scope["path"])
        if key in self._matched:
            return self._matched[key]
        found = next((route for route in flat if route.matches(scope)[0] == Match.FULL), None)
        if len(self._matched) >= MAX_MATCHED:
            self._matched.clear()
        self._matched[key] = found
        return found

    def _refusal(self, scope: Scope, principal: Principal | None) -> tuple[int, str] | None:
        path = scope["path"]
        method = "WS" if scope["type"] == "websocket" else scope["method"]
        if path in OPEN_PATHS:  # a login posted from another site's page is refused too
            return (403, cross_site(scope)) if method in UNSAFE \
                and not same_origin(scope) else None
        if principal is None:
            return 401, "log in, or send Authorization: Bearer <API token>"
        route = self._route(scope)
        if route is None:
            return None  # the router answers 404 or 405 to a logged-in caller
        template = getattr(route, "path", scope["path"])
        roles = roles_of(route)
        if roles is None:
            log.warning("no access rule for %s %s: refused to every role", method, template)
            return 403, f"no access rule for {method} {template}"
        if principal.role not in roles:
            return 403, f"the {principal.role} role may not use {method} {template}"
        if principal.via == "session":
            if (method in UNSAFE or method == "WS") and not same_origin(scope):
                return 403, cross_site(scope)
            if method in UNSAFE and _header(scope, CSRF_HEADER.encode()) != principal.csrf:
                return 403, f"missing or wrong {CSRF_HEADER} header"
        return None

    # answering -----------------------------------------------------------------------------

    async def _refuse(self, scope: Scope, send: Send, status: int, detail: str) -> None:
        if scope["type"] == "websocket":
            if "websocket.http.response" in scope.get("extensions", {}):
                await send({"type": "websocket.http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "websocket.http.response.body",
                            "body": json.dumps({"detail": detail}).encode()})
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        if status == 401 and scope["path"] in PAGES and scope["method"] in ("GET", "HEAD"):
            query = scope.get("query_string", b"").decode("latin-1")
            wanted = scope["path"] + (f"?{query}" if query else "")
            location = "/login?next=" + quote(wanted, safe="/")
            await _respond(send, 303, b"", [(b"location", location.encode())])
            return
        headers = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await _respond(send, status, json.dumps({"detail": detail}).encode(), headers)

    def _with_headers(self, scope: Scope, send: Send) -> Send:
        extra = list(HEADERS)
        if scope.get("scheme") == "https":
            extra.append((b"strict-transport-security", b"max-age=31536000"))
        if scope["path"].startswith("/api/"):
            extra.append((b"cache-control", b"no-store"))

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *((n, v) for n, v in extra if n not in names)]
            await send(message)

        return sending

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> Receive | None:
        """Reads a request body up to the limit (413 beyond it) and replays it to the app;
        None when the request was answered or the client left."""
        limit = self.settings.max_body_bytes
        length = _header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            await _respond(send, 413, json.dumps(
                {"detail": f"request body over {limit} bytes"}).encode())
            return None
        if scope["method"] in ("GET", "HEAD") and length in (None, "0"):
            return receive
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await _respond(send, 413, json.dumps(
                    {"detail": f"request body over {limit} bytes"}).encode())
                return None
            if not message.get("more_body", False):
                break
        pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks),
                                   "more_body": False}]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        return replay


class _Watch:
    """One request's receive and send, watched: once its response turns out to be long-lived
    (a websocket accepted, or a body sent in parts) its caller is checked every
    ``recheck_s``. When no longer allowed, the app's next receive or send ends the
    connection: the client gets a close frame or the end of the body, the app hears that the
    client left, and what it still sends is dropped. (Ended there, not from the checking
    task, so that two sends never race on one connection.)"""

    def __init__(self, guard: Guard, scope: Scope, receive: Receive, send: Send) -> None:
        self.guard, self.scope = guard, scope
        self._receive, self._send = receive, send
        self._task: asyncio.Task[None] | None = None
        self._reading: asyncio.Future[Message] | None = None  # a receive kept across calls
        self._revoked = asyncio.Event()
        self._ended = False
        self._websocket = scope["type"] == "websocket"

    async def send(self, message: Message) -> None:
        if self._revoked.is_set():
            await self._end()
        if self._ended:
            return  # the connection was ended for the app; what it still sends goes nowhere
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            self._ended = True  # the response is complete
        await self._send(message)
        long_lived = (message["type"] == "websocket.accept"
                      or (message["type"] == "http.response.body" and not self._ended))
        if long_lived and self._task is None:
            self._task = asyncio.ensure_future(self._recheck())

    async def receive(self) -> Message:
        """The client's next message, or a disconnect once the caller lost their right.

        One read of the underlying receive is kept pending across calls: Starlette polls
        ``is_disconnected`` in an already-cancelled scope several times a second, and a new
        read each time would pile up pending tasks for as long as the stream lasts. What that
        read brings is handed to the next call; the checks before the first await let such a
        cancelled poll still see a disconnect or a revocation."""
        if self._task is None and self._reading is None:
            return await self._receive()
        if not self._revoked.is_set():
            if self._reading is None:
                self._reading = asyncio.ensure_future(self._receive())
            if not self._reading.done():
                revoked = asyncio.ensure_future(self._revoked.wait())
                try:
                    await asyncio.wait({self._reading, revoked},
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    revoked.cancel()
            if self._reading.done():
                message, self._reading = self._reading.result(), None
                return message
        await self._end()
        return ({"type": "websocket.disconnect", "code": 1008} if self._websocket
                else {"type": "http.disconnect"})

    async def _recheck(self) -> None:
        while True:
            await asyncio.sleep(self.guard.settings.recheck_s)
            if not await self.guard.still_allowed(self.scope):
                log.info("%s %s ended: its caller is no longer allowed (logged out, expired "
                         "or revoked)", "websocket" if self._websocket else "stream",
                         self.scope["path"])
                self._revoked.set()  # the app's next receive or send ends it
                return

    async def _end(self) -> None:
        """Tells the client once: a close frame, or the end of the response body."""
        if self._ended:
            return
        self._ended = True
        with contextlib.suppress(Exception):  # the client may be gone already
            if self._websocket:
                await self._send({"type": "websocket.close", "code": 1008,
                                  "reason": "login no longer valid"})
            else:
                await self._send({"type": "http.response.body", "body": b"",
                                  "more_body": False})

    async def stop(self) -> None:
        for task in (self._task, self._reading):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _respond(send: Send, status: int, body: bytes,
                   headers: list[tuple[bytes, bytes]] | None = None) -> None:
    kind = [(b"content-type", b"application/json")] if body else []
    await send({"type": "http.response.start", "status": status,
                "headers": [*kind, *(headers or []),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
