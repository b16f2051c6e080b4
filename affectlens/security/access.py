"""Who may call what: one table from (method, route path) to the roles allowed.

The guard looks every request up here. A route missing from the table is refused to every
role (and logged), so a route added later is closed until someone decides who may use it;
the authorisation matrix test enumerates the app's routes against this table.
"""

from __future__ import annotations

ADMIN, STAFF, AUDITOR, SCREEN = "admin", "staff", "auditor", "screen"
METRICS = "metrics"  # a Prometheus scraper's token: /metrics and its own login, nothing else
EVERY_ROLE = frozenset({ADMIN, STAFF, AUDITOR, SCREEN})
ACCOUNT_HOLDERS = EVERY_ROLE | {METRICS}  # whoever has a login may end it, see it, change it
OPERATORS = frozenset({ADMIN, STAFF})  # people who watch cameras and answer events
READERS = frozenset({ADMIN, STAFF, AUDITOR})
ONLY_ADMIN = frozenset({ADMIN})
ONLY_AUDITOR = frozenset({AUDITOR})

# Reachable without logging in. The login page and its two assets, the login call itself,
# and /api/health (load balancers and `affectlens serve`'s own checks poll it; without a
# login it answers only {"status": "ok"}).
OPEN_PATHS = frozenset({"/login", "/static/login.js", "/static/style.css",
                        "/api/auth/login", "/api/health"})
# Pages a browser opens: without a login they redirect to /login rather than answer 401.
PAGES = frozenset({"/", "/screen"})

ACCESS: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/"): OPERATORS,
    ("GET", "/screen"): EVERY_ROLE,
    ("GET", "/static"): EVERY_ROLE,  # the dashboard's scripts: code, no data
    ("GET", "/openapi.json"): READERS,
    ("GET", "/metrics"): frozenset({ADMIN, METRICS}),  # added by `affectlens serve`
    # accounts
    ("GET", "/api/auth/me"): ACCOUNT_HOLDERS,
    ("POST", "/api/auth/logout"): ACCOUNT_HOLDERS,
    ("POST", "/api/auth/password"): ACCOUNT_HOLDERS,  # one's own, with the current one
    ("GET", "/api/users"): ONLY_ADMIN,
    ("POST", "/api/users"): ONLY_ADMIN,
    ("PATCH", "/api/users/{username}"): ONLY_ADMIN,
    ("GET", "/api/tokens"): ONLY_ADMIN,
    ("POST", "/api/tokens"): ONLY_ADMIN,
    ("DELETE", "/api/tokens/{token_id}"): ONLY_ADMIN,
    ("GET", "/api/audit"): ONLY_AUDITOR,
    ("GET", "/api/audit/export"): ONLY_AUDITOR,
    ("GET", "/api/audit/verify"): ONLY_AUDITOR,
    # cameras and events
    ("GET", "/api/cameras"): READERS,
    ("POST", "/api/cameras"): ONLY_ADMIN,
    ("GET", "/api/cameras/{camera_id}"): READERS,
    ("PATCH", "/api/cameras/{camera_id}"): ONLY_ADMIN,
    ("DELETE", "/api/cameras/{camera_id}"): ONLY_ADMIN,
    ("POST", "/api/cameras/test"): ONLY_ADMIN,
    ("POST", "/api/cameras/{camera_id}/test"): ONLY_ADMIN,
    ("GET", "/api/events"): READERS,
    ("POST", "/api/events/{event_id}/acknowledge"): OPERATORS,
    ("GET", "/api/events/{event_id}/snapshot.jpg"): OPERATORS,
    ("GET", "/api/events/{event_id}/clip.webm"): OPERATORS,  # blurred video around a fall
    # live state and media (blurred, still pictures of people: operators only)
    ("GET", "/api/live"): OPERATORS,
    ("GET", "/api/cameras/{camera_id}/live"): OPERATORS,
    ("GET", "/api/cameras/{camera_id}/snapshot.jpg"): OPERATORS,
    ("GET", "/api/cameras/{camera_id}/preview.mjpeg"): OPERATORS,
    ("GET", "/api/cameras/{camera_id}/stats"): READERS,
    ("GET", "/api/cameras/{camera_id}/zones"): READERS,  # polygons, no pixels
    ("PUT", "/api/cameras/{camera_id}/zones"): ONLY_ADMIN,
    ("GET", "/api/screen"): EVERY_ROLE,
    # alerts a webhook or the broker did not take (their targets, payloads): admins only
    ("GET", "/api/dead-letters"): ONLY_ADMIN,
    ("POST", "/api/dead-letters/{letter_id}/replay"): ONLY_ADMIN,  # audited
    ("WS", "/api/ws"): OPERATORS,
}


def allowed(method: str, path: str) -> frozenset[str] | None:
    """The roles allowed, or None when the table has no rule (refused to all)."""
    return ACCESS.get(("GET" if method == "HEAD" else method, path))
