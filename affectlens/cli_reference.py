"""The command line's reference (docs/cli.md), made from the typer app itself so that every
command, argument, option and default is documented as ``--help`` shows it.

``python -m affectlens.cli_reference > docs/cli.md`` writes it again; tests/test_docs.py fails
when the file is stale. Each option's line is the one ``--help`` prints (its help record), so
the page cannot say other than the program does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import typer.main

from affectlens.cli import app

PROG = "affectlens"


@dataclass(frozen=True)
class Command:
    path: tuple[str, ...]  # ("eval", "expression")
    usage: str  # affectlens eval expression [OPTIONS]
    help: str
    params: tuple[tuple[str, str], ...]  # (what to type, what it means) as --help shows them
    group: bool  # has subcommands of its own


def commands() -> list[Command]:
    """Every command, the top level first, then depth first in ``--help``'s order."""
    root = typer.main.get_command(app)
    context = root.context_class(root, info_name=PROG)
    return list(_walk(root, context, ()))


def _walk(command: Any, context: Any, path: tuple[str, ...]) -> Iterator[Command]:
    params = tuple(record for param in command.params if not param.hidden
                   for record in [param.get_help_record(context)] if record is not None)
    usage = command.get_usage(context).removeprefix("Usage:").strip()
    subcommands = command.list_commands(context) if hasattr(command, "list_commands") else []
    yield Command(path, usage, command.help or "", params, bool(subcommands))
    for name in subcommands:
        sub = command.get_command(context, name)
        if sub is None or sub.hidden:
            continue
        yield from _walk(sub, sub.context_class(sub, info_name=name, parent=context),
                         (*path, name))


def _text(value: str) -> str:
    """Help text as Markdown text: shown as written, never taken for HTML or emphasis."""
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("*", "\\*"))


def _help(text: str) -> str:
    """A command's help: its paragraphs, and the indented ones (examples) as a code block."""
    blocks: list[tuple[bool, list[str]]] = []  # (is code, lines)
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines = [line for line in paragraph.splitlines() if line.strip() != "\b"]
        code = bool(lines) and all(line.startswith("  ") for line in lines)
        if code and blocks and blocks[-1][0]:
            blocks[-1][1].extend(lines)  # examples one per paragraph: one block
        elif lines:
            blocks.append((code, lines))
    out = []
    for code, lines in blocks:
        if code:
            out.append("```bash\n" + "\n".join(line[2:] for line in lines) + "\n```")
        else:
            out.append(_text("\n".join(line.strip() for line in lines)))
    return "\n\n".join(out)


def _section(command: Command) -> str:
    level = "#" * min(max(len(command.path), 1) + 1, 4)
    title = " ".join((PROG, *command.path))
    parts = [f"{level} `{title}`", "```text\n" + command.usage + "\n```", _help(command.help)]
    # A list, not a table: choices are written a|b, which a table on GitHub splits.
    parts.append("\n".join(f"- `{what}`" + (f": {_text(meaning)}" if meaning else "")
                           for what, meaning in command.params))
    if command.group:
        parts.append("Its commands follow.")
    return "\n\n".join(part for part in parts if part) + "\n"


def markdown() -> str:
    return (
        "# Command line reference\n\n"
        "Every `affectlens` command with its arguments, options and defaults, as its `--help`\n"
        "prints them. Made from the program by `python -m affectlens.cli_reference > "
        "docs/cli.md`;\na test fails when this page and the program differ.\n\n"
        + "\n".join(_section(command) for command in commands())
    )


if __name__ == "__main__":
    print(markdown(), end="")
