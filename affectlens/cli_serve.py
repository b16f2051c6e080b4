"""``affectlens serve`` and ``affectlens demo``: the live service from the command line.

Its own module so that only these commands load the service (FastAPI, SQLAlchemy, the camera
workers): affectlens/cli.py imports it when one of them runs or its help is asked for.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from affectlens.cli import _fail, _fail_on, console
from affectlens.errors import AffectlensError
from affectlens.service.demo import demo_login, demo_site
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
        Path | None, typer.Option(help="Folder for the sample and database. Default: a new "
                                  "temporary folder.")
    ] = None,
) -> None:
    """Start the live service with two cameras looping the built-in sample video, on SQLite,
    and print the dashboard's address. Ctrl-C stops it. (The offline report demo is
    `affectlens demo-report`.)"""
    try:
        check_host(host)
    except ValueError as exc:
        _fail(f"--host: {exc}")
    # Before the sample video is written: a port in use is said at once.
    _fail_on([f"--{problem}" for problem in (listen_problem(host, port),) if problem])
    folder = folder or Path(tempfile.mkdtemp(prefix="affectlens-demo-"))
    site = demo_site(folder, host, port)
    user, password = demo_login(site)
    console.print(f"demo data in {folder}")
    console.print(f"\nDashboard:         [bold]http://{host}:{port}/[/bold]", highlight=False)
    console.print(f"Statistics screen: http://{host}:{port}/screen", highlight=False)
    console.print(f"API (OpenAPI):     http://{host}:{port}/openapi.json (with a login)",
                  highlight=False)
    console.print(f"Log in as {user!r} with password {password!r} (this demo only)\n",
                  highlight=False)
    _serve(site)


def _serve(site: SiteConfig) -> None:
    try:
        service = Service(site, _launcher(site.cluster))
    except AffectlensError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    service.run()


def _launcher(cluster: ClusterConfig) -> Launcher | None:
    """None: the default, local processes. Ray is imported only here, for a cluster."""
    if cluster.engine != "ray" or cluster.address is None:
        return None
    from affectlens.cluster.launcher import RayLauncher

    return RayLauncher(cluster.address, cluster.num_cpus, cluster.num_gpus)
