"""``affectlens user``, ``token`` and ``audit``: accounts and the audit log from the command
line, for the first admin (there is no default account or password) and for scripts.

Each command opens the site's database from ``--config site.yaml`` (as ``serve`` does,
environment overrides included) or ``--database URL``. Changes are audited as
``cli:<login name>``.
"""

from __future__ import annotations

import getpass
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import ArgumentError

from affectlens.cli import _fail, console
from affectlens.security.accounts import AccountError, Accounts
from affectlens.security.audit import AuditLog
from affectlens.service.site import SiteConfigError, load_site
from affectlens.store import Store
from affectlens.store.db import StoreError

user_app = typer.Typer(help="Dashboard accounts: admin, staff, auditor, screen.",
                       no_args_is_help=True)
token_app = typer.Typer(help="API tokens for integrations (hashed at rest, revocable).",
                        no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

Config = Annotated[Path | None, typer.Option("--config", "-c", help="The site's YAML config.")]
Database = Annotated[str | None, typer.Option("--database", help="A database URL instead.")]


def register(app: typer.Typer) -> None:
    """Adds the three command groups to the main command line."""
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(audit_app, name="audit")


def _store(config: Path | None, database: str | None) -> Store:
    if (config is None) == (database is None):
        _fail("give exactly one of --config site.yaml or --database URL")
    try:
        url = database if database is not None else load_site(config).database_url
        return Store(url)
    except (SiteConfigError, StoreError) as error:
        _fail(str(error))
    except ArgumentError:  # SQLAlchemy cannot read the URL: a file path, a typo, no driver
        _fail(f"--database: {database!r} is not a database URL; give "
              "sqlite:////absolute/path/affectlens.db or "
              "postgresql+psycopg://user:password@host/database")
    raise AssertionError("unreachable")


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli:unknown"


def _password(from_stdin: bool) -> str:
    """Asked for twice on a terminal; otherwise (``--password-stdin``, or stdin a pipe or a
    file) the first line of stdin. Prompting a pipe for a confirmation found no second line
    and ended in ``Aborted.``"""
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def user_add(
    username: str,
    role: Annotated[str, typer.Option(help="admin, staff, auditor or screen.")] = "admin",
    password_stdin: Annotated[bool, typer.Option(
        "--password-stdin", help="Read the password from the first line of stdin (also "
        "done when stdin is not a terminal).")] = False,
    config: Config = None, database: Database = None,
) -> None:
    """Create an account; the password is asked for (twice) on a terminal, else read from
    the first line of stdin."""
    store = _store(config, database)
    try:
        Accounts(store).add_user(username, role, _password(password_stdin))
    except AccountError as error:
        _fail(str(error))
    AuditLog(store).append(_actor(), "user.add", f"user:{username}", role=role)
    console.print(f"user {username} ({role}) added")


@user_app.command("set")
def user_set(
    username: str,
    role: Annotated[str | None, typer.Option(help="A new role.")] = None,
    enabled: Annotated[bool | None, typer.Option("--enable/--disable")] = None,
    password: Annotated[bool, typer.Option("--password", help="Ask for a new one.")] = False,
    password_stdin: Annotated[bool, typer.Option("--password-stdin")] = False,
    config: Config = None, database: Database = None,
) -> None:
    """Change a role, enable or disable, or set a new password (ends the user's sessions)."""
    store = _store(config, database)
    new = _password(password_stdin) if password or password_stdin else None
    try:
        Accounts(store).change_user(username, role, enabled, new)
    except AccountError as error:
        _fail(str(error))
    fields = [n for n, v in (("role", role), ("enabled", enabled), ("password", new))
              if v is not None]
    AuditLog(store).append(_actor(), "user.change", f"user:{username}", fields=fields)
    console.print(f"user {username} changed: {', '.join(fields) or 'nothing'}")


@user_app.command("list")
def user_list(config: Config = None, database: Database = None) -> None:
    for user in Accounts(_store(config, database)).users():
        state = "enabled" if user.enabled else "disabled"
        typer.echo(f"{user.username}\t{user.role}\t{state}")


@token_app.command("add")
def token_add(
    name: str,
    role: Annotated[str, typer.Option(
        help="The token's role: admin, staff, auditor, screen, or metrics (a Prometheus "
             "scraper's: /metrics only).")],
    expires_days: Annotated[float | None, typer.Option(min=0.001)] = None,
    config: Config = None, database: Database = None,
) -> None:
    """Create a token and print it (only it, on stdout): it is shown this once."""
    store = _store(config, database)
    accounts = Accounts(store)
    expires = accounts.clock() + timedelta(days=expires_days) if expires_days else None
    try:
        value, token = accounts.add_token(name, role, _actor(), expires)
    except AccountError as error:
        _fail(str(error))
    AuditLog(store).append(_actor(), "token.add", f"token:{token.id}", name=name, role=role)
    typer.echo(value)
    console.print(f"token {token.id} ({name}, {role}) created; send it as "
                  "'Authorization: Bearer <token>'")


@token_app.command("list")
def token_list(config: Config = None, database: Database = None) -> None:
    for token in Accounts(_store(config, database)).tokens():
        state = "revoked" if token.revoked_at else "active"
        typer.echo(f"{token.id}\t{token.name}\t{token.role}\t{state}")


@token_app.command("revoke")
def token_revoke(token_id: int, config: Config = None, database: Database = None) -> None:
    store = _store(config, database)
    if Accounts(store).revoke_token(token_id) is None:
        _fail(f"no token {token_id}")
    AuditLog(store).append(_actor(), "token.revoke", f"token:{token_id}")
    console.print(f"token {token_id} revoked")


@audit_app.command("verify")
def audit_verify(
    expect_head: Annotated[str | None, typer.Option(
        help="The head hash printed by an earlier verify: detects records cut off the end."
    )] = None,
    config: Config = None, database: Database = None,
) -> None:
    """Check the chain; names each changed or deleted record. Exit 1 if any."""
    result = AuditLog(_store(config, database)).verify(expect_head)
    for problem in result.problems:
        typer.echo(f"TAMPERED: {problem}")
    typer.echo(f"{result.records} records; head {result.head}")
    if not result.ok:
        raise typer.Exit(1)
    typer.echo("audit log intact")


@audit_app.command("export")
def audit_export(output: Annotated[Path | None, typer.Option("--output", "-o")] = None,
                 config: Config = None, database: Database = None) -> None:
    """Every record as JSON lines (stdout, or --output FILE)."""
    log = AuditLog(_store(config, database))
    log.append(_actor(), "audit.export", "audit_log")
    sink = output.open("w") if output is not None else sys.stdout
    try:
        for r in log.all_records():
            sink.write(json.dumps({"id": r.id, "at": r.at.isoformat(), "actor": r.actor,
                                   "action": r.action, "target": r.target, "detail": r.detail,
                                   "prev_hash": r.prev_hash, "hash": r.hash}) + "\n")
    finally:
        if output is not None:
            sink.close()
