"""Who may call what: the roles, and each route's rule declared on the route itself.

A route says who may call it where it is written (``@requires(READERS)`` under its
``@router.get``); the guard reads the rule from the route a request matches. A route without
one is refused to every role (and logged), so a route added later is closed until someone
decides who may use it; the authorisation matrix test (tests/test_security_matrix.py)
enumerates the app's routes and checks every role against each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

ADMIN, STAFF, AUDITOR, SCREEN = "admin", "staff", "auditor", "screen"
METRICS = "metrics"  # a Prometheus scraper's token: /metrics and its own login, nothing else
EVERY_ROLE = frozenset({ADMIN, STAFF, AUDITOR, SCREEN})
ACCOUNT_HOLDERS = EVERY_ROLE | {METRICS}  # whoever has a login may end it, see it, change it
OPERATORS = frozenset({ADMIN, STAFF})  # people who watch cameras and answer events
READERS = frozenset({ADMIN, STAFF, AUDITOR})
ONLY_ADMIN = frozenset({ADMIN})
ONLY_AUDITOR = frozenset({AUDITOR})
SCRAPERS = frozenset({ADMIN, METRICS})  # /metrics: admins, and Prometheus with its token

# Reachable without logging in. The login page and its two assets, the login call itself,
# and /api/health (load balancers and `affectlens serve`'s own checks poll it; without a
# login it answers only {"status": "ok"}).
OPEN_PATHS = frozenset({"/login", "/static/login.js", "/static/style.css",
                        "/api/auth/login", "/api/health"})
# Pages a browser opens: without a login they redirect to /login rather than answer 401.
PAGES = frozenset({"/", "/screen"})

ROLES_ATTRIBUTE = "__affectlens_roles__"
Declared = TypeVar("Declared")


def requires(roles: frozenset[str]) -> Callable[[Declared], Declared]:
    """Declares who may call a route: put it under the route's decorator (it marks the
    endpoint the route keeps), or wrap a mounted app with it. The mark is data only: the
    guard enforces it before the route runs."""
    if not roles or not roles <= ACCOUNT_HOLDERS:
        raise ValueError(f"unknown or no roles: {sorted(roles)}")

    def declare(target: Declared) -> Declared:
        setattr(target, ROLES_ATTRIBUTE, frozenset(roles))
        return target

    return declare


def roles_of(route: object) -> frozenset[str] | None:
    """The roles a route (or a mount: the app it serves) declares; None: no rule."""
    for target in (getattr(route, "endpoint", None), getattr(route, "app", None)):
        roles = getattr(target, ROLES_ATTRIBUTE, None)
        if isinstance(roles, frozenset):
            return roles
    return None
