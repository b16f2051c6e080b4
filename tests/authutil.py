"""Accounts for tests of the protected app: a token or a logged-in client for each role.

Tokens are made straight in the store (as `affectlens token add` does); users log in over
HTTP, so the session cookie and CSRF token are the real ones."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from affectlens.security.accounts import Accounts
from affectlens.store import Store

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "staff", "auditor", "screen", "metrics")


def token_for(store: Store, role: str, name: str | None = None) -> str:
    value, _ = Accounts(store).add_token(name or f"test-{role}", role, "tests")
    return value


def bearer(store: Store, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(store, role)}"}


def add_user(store: Store, role: str, username: str | None = None) -> str:
    username = username or f"{role}1"
    Accounts(store).add_user(username, role, PASSWORD)
    return username


def logged_in(client: TestClient | httpx.Client, username: str,
              password: str = PASSWORD) -> str:
    """Logs ``client`` in (its cookie jar keeps the session), sends the CSRF token with
    every later request, and returns that token."""
    response = client.post("/api/auth/login", json={"username": username,
                                                     "password": password})
    assert response.status_code == 200, response.text
    csrf = response.json()["csrf_token"]
    client.headers["X-CSRF-Token"] = csrf
    return csrf


def as_role(store: Store, app: object, role: str = "admin") -> TestClient:
    """A test client of ``app`` that sends a fresh ``role`` token with every request."""
    return TestClient(app, headers=bearer(store, role))


def as_admin(store: Store, app: object) -> TestClient:
    return as_role(store, app, "admin")
