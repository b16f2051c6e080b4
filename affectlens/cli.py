"""The command line. Thin: it parses options, shows progress and calls the library.

Each command lives in a module of its own (cli_analyze, cli_serve, cli_eval, cli_admin), which
this one imports only when that command runs or its own help is asked for: importing them all
loaded the whole analysis stack (pandas, ONNX Runtime, OpenCV), so that even ``affectlens
--version`` took about 3 s of CPU. The listing in ``affectlens --help`` is drawn from
``COMMANDS`` below, without importing anything (tests/test_cli_startup.py keeps it equal to
the commands' own help).
"""

from __future__ import annotations

import importlib
import inspect
import logging
from dataclasses import dataclass
from typing import Annotated, Any

import typer
import typer.main
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from affectlens.version import __version__


@dataclass(frozen=True)
class LazyCommand:
    """Where a command is defined, and the line that ``affectlens --help`` shows for it.

    ``app`` is ``module:attribute`` of a ``typer.Typer``: either the command group itself
    (``sub`` is None: ``eval``, ``user``...) or a container of the command named ``sub``.
    """

    app: str
    help: str
    sub: str | None = None

    def load(self) -> Any:
        """Imports the module and builds the command as ``add_typer`` would have at start."""
        module, attribute = self.app.split(":")
        group = typer.main.get_group(getattr(importlib.import_module(module), attribute))
        return _tidied(group if self.sub is None else group.commands[self.sub])


def tidy_help(text: str) -> str:
    """A docstring's paragraphs as flowing text: typer (0.29) keeps the source's line breaks
    after the first paragraph, so ``--help`` broke sentences mid-line. Indented paragraphs
    (examples) and click's ``\\b`` (keep as written) paragraphs are left as they are."""
    paragraphs = inspect.cleandoc(text).split("\n\n")
    return "\n\n".join(
        p if p.startswith("\b") or any(line[:1].isspace() for line in p.splitlines())
        else " ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _tidied(command: Any) -> Any:
    """``command`` and its subcommands with their help tidied (tidy_help)."""
    if command.help:
        command.help = tidy_help(command.help)
    for sub in getattr(command, "commands", {}).values():
        _tidied(sub)
    return command


def _readable_help() -> None:
    """Two things typer 0.29's ``--help`` shows that mean nothing to a reader: a type
    ('<bool>') after on/off flags, which take no value, and a required argument as
    '{inputs}...' on the usage line. Shown as click and earlier typer did: no type for a flag,
    'INPUTS...' (optional: '[INPUTS]...'). Skipped if typer's internals differ."""
    shown_type = getattr(TyperOption, "display_type_rich", None)
    if shown_type is not None:
        def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
            return None if self.is_flag else shown_type(self, ctx)
        TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    if hasattr(TyperArgument, "_usage_display_name"):
        def usage_name(self: TyperArgument) -> str:
            name = self.display_name_raw.upper()
            name = name if self.required else f"[{name}]"
            return name + ("..." if self.nargs != 1 else "")
        TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]


_readable_help()


# In the order `affectlens --help` lists them.
COMMANDS: dict[str, LazyCommand] = {
    "analyze": LazyCommand(
        "affectlens.cli_analyze:commands", sub="analyze",
        help="Analyse recorded video and images: per-frame and per-track tables, a JSON "
        "summary and an HTML report."),
    "demo-report": LazyCommand(
        "affectlens.cli_analyze:commands", sub="demo-report",
        help="Analyse the built-in sample video (two faces from a public-domain portrait) "
        "offline and write its report. Needs no data and no network."),
    "serve": LazyCommand(
        "affectlens.cli_serve:commands", sub="serve",
        help="Run the live service: camera workers, the event store, the HTTP API and "
        "dashboard, alerts and /metrics, until SIGTERM or Ctrl-C. AFFECTLENS_* variables "
        "override the file (docs/serving.md). Exit status 2: the config is wrong, or "
        "names what this machine cannot serve (a missing database driver, an unusable "
        "certificate, a host or port it cannot listen on); one line per problem, naming "
        "the field."),
    "demo": LazyCommand(
        "affectlens.cli_serve:commands", sub="demo",
        help="Start the live service on SQLite with demo cameras playing videos made at start "
        "from public-domain pictures, and print the dashboard's address once it listens. "
        "Ctrl-C stops it. (The offline report demo is `affectlens demo-report`.)"),
    "eval": LazyCommand(
        "affectlens.cli_eval:eval_app",
        help="Measure accuracy, calibration and per-group error on labelled data; write "
        "model cards."),
    "user": LazyCommand(
        "affectlens.cli_admin:user_app",
        help="Dashboard accounts: admin, staff, auditor, screen."),
    "token": LazyCommand(
        "affectlens.cli_admin:token_app",
        help="API tokens for integrations (hashed at rest, revocable)."),
    "audit": LazyCommand("affectlens.cli_admin:audit_app", help="The hash-chained audit log."),
}


class _Unloaded(TyperCommand):
    """Stands for a command not imported yet: its name and help line, for listings only."""

    def __init__(self, name: str, lazy: LazyCommand) -> None:
        super().__init__(name=name, help=lazy.help, callback=None)
        self.lazy = lazy


class LazyGroup(TyperGroup):
    """The top-level group: a command's module is imported when the command is resolved.

    Why not plain ``add_typer``: typer builds every command (their options, choices and
    defaults) before parsing anything, so every module had to be imported at start. Listing
    the commands (``affectlens --help``) uses the ``_Unloaded`` stand-ins and imports nothing.
    """

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, lazy in COMMANDS.items():
            self.commands.setdefault(name, _Unloaded(name, lazy))
        self._listing = False

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Unloaded) and not self._listing:
            command = self.commands[cmd_name] = command.lazy.load()
            command.name = cmd_name
        return command

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


app = typer.Typer(
    cls=LazyGroup,
    help="affectlens: privacy-first analysis of facial expression and age in video.\n\n"
    "No identities, no sensitive categories; faces are blurred in every picture it writes.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"affectlens {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    logging.basicConfig(level=logging.ERROR, format="%(message)s")


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _fail_on(problems: list[str]) -> None:
    """Every problem on its own line, then exit status 2; nothing when there are none."""
    for problem in problems:
        console.print(f"[red]error:[/red] {problem}", highlight=False, soft_wrap=True)
    if problems:
        raise typer.Exit(2)


if __name__ == "__main__":  # `python -m affectlens.cli`, as from a checkout without the script
    app()
