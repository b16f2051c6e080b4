"""Who may use the service and what they did (issue 6): accounts and roles, login sessions
with CSRF protection, API tokens, the login throttle, the hash-chained audit log, and the
ASGI guard that puts a role check in front of every route, websocket and media URL."""
