"""``affectlens serve`` and ``affectlens demo``: the live service from the command line.

Its own module so that only these commands load the service (FastAPI, SQLAlchemy, the camera
workers): affectlens/cli.py imports it when one of them runs or its help is asked for.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from affectlens.cli import _fail, _fail_on, console
from affectlens.errors import AffectlensError
from affectlens.service.demo import demo_login, demo_notes, demo_site
from affectlens.service.launcher import Launcher
from affectlens.service.preflight import listen_problem, serving_problems
from affectlens.service.runtime import Service
from affectlens.service.site import (
    ClusterConfig,
    SiteConfig,
    SiteConfigError,
    check_host,
    load_site,
)
from affectlens.types import plural

commands = typer.Typer()
_UVICORN_STARTUP_FAILURE = 3  # uvicorn.server.STARTUP_FAILURE, its exit when it cannot listen


@commands.command()
def serve(
    config: Annotated[Path, typer.Option("--config", "-c", help="The site's YAML config.")],
    cluster: Annotated[
        str | None, typer.Option(
            "--cluster", metavar="ADDRESS", help="Run the camera workers on the Ray cluster at "
            "ADDRESS (the head node's host:port, or auto), as site.yaml's cluster: {engine: "
            "ray, address: ...} does; needs affectlens[cluster] (docs/cluster.md).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check the config (and the environment's "
                           "overrides), then exit: 0 when it is usable.")
    ] = False,
) -> None:
    """Run the live service: camera workers, the event store, the HTTP API and dashboard,
    alerts and /metrics, until SIGTERM or Ctrl-C. AFFECTLENS_* variables override the file
    (docs/serving.md). Exit status 2: the config is wrong, or names what this machine cannot
    serve (a missing database driver, an unusable certificate, a host or port it cannot
    listen on); one line per problem, naming the field."""
    try:
        site = load_site(config)
        if cluster is not None:
            site = site.model_copy(update={"cluster": ClusterConfig(
                **{**site.cluster.model_dump(), "engine": "ray", "address": cluster})})
    except SiteConfigError as exc:
        _fail(str(exc))
    except ValidationError as exc:
        _fail(f"--cluster: {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}")
    _fail_on(serving_problems(site, config))
    if check:
        console.print(f"{config}: ok, {plural(len(site.cameras), 'camera')}, serving on "
                      f"{site.host}:{site.port}", highlight=False, soft_wrap=True)
        return
    _serve(site)


@commands.command()
def demo(
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port of the dashboard.")
                    ] = 8080,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    folder: Annotated[
        Path | None, typer.Option(help="Folder for the demo's videos and database, kept "
                                  "afterwards. Default: a new temporary folder, removed on "
                                  "exit unless --keep.")
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary folder (its "
                                       "database, snapshots and clips) after the demo.")
                    ] = False,
) -> None:
    """Start the live service on SQLite with demo cameras playing videos made at start from
    public-domain pictures, and print the dashboard's address once it listens. Ctrl-C stops
    it. (The offline report demo is `affectlens demo-report`.)"""
    try:
        check_host(host)
    except ValueError as exc:
        _fail(f"--host: {exc}")
    # Before the videos are written: a port in use is said at once.
    _fail_on_port(host, port)
    temporary = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="affectlens-demo-"))
    try:
        site = demo_site(folder, host, port)
        user, password = demo_login(site)

        def announce() -> None:
            console.print(f"demo data in {folder}"
                          + (" (removed on exit; --keep keeps it)" if temporary and not keep
                             else ""), highlight=False, soft_wrap=True)
            for line in demo_notes(site):
                console.print(line, highlight=False, soft_wrap=True)
            console.print(f"\nDashboard:         [bold]http://{host}:{port}/[/bold]",
                          highlight=False)
            console.print(f"Statistics screen: http://{host}:{port}/screen", highlight=False)
            console.print(f"API (OpenAPI):     http://{host}:{port}/openapi.json (with a "
                          "login)", highlight=False)
            console.print(f"Log in as {user!r} with password {password!r} (this demo only)\n",
                          highlight=False)

        try:
            _serve(site, announce)
        except SystemExit as exc:  # uvicorn's own exit when it could not listen after all
            if exc.code == _UVICORN_STARTUP_FAILURE:  # taken while the demo started
                _fail_on_port(host, port)
            raise
    finally:
        if temporary and not keep:
            shutil.rmtree(folder, ignore_errors=True)


def _fail_on_port(host: str, port: int) -> None:
    problem = listen_problem(host, port)
    if problem is not None:
        other = port + 1 if port < 65535 else port - 1
        _fail(f"--{problem}; choose another with --port, e.g. affectlens demo --port {other}")


def _serve(site: SiteConfig, on_listening: Callable[[], None] | None = None) -> None:
    try:
        service = Service(site, _launcher(site.cluster))
    except AffectlensError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    service.run(on_listening)


def _launcher(cluster: ClusterConfig) -> Launcher | None:
    """None: the default, local processes. Ray is imported only here, for a cluster."""
    if cluster.engine != "ray" or cluster.address is None:
        return None
    from affectlens.cluster.batching import BatchSettings
    from affectlens.cluster.launcher import RayLauncher

    batching = BatchSettings(cluster.batch_max_rows, cluster.batch_deadline_ms / 1000,
                             cluster.num_gpus) if cluster.batch_models else None
    return RayLauncher(cluster.address, cluster.num_cpus, cluster.num_gpus, batching)
