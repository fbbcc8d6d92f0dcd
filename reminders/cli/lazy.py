"""Subcommands whose modules are imported only when they run, so `reminders --help` is quick.

A command module pulls in SQLAlchemy, Redis, Celery...: seconds of imports that `--help`, or any
other command, should not pay.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import typer
from typer import _click  # Typer vendors Click; its group API speaks these types
from typer.core import TyperGroup


@dataclass(frozen=True)
class Lazy:
    """Where a subcommand lives, and the line `--help` shows for it without importing it."""

    target: str  # "module:attribute", a Typer app or a command function
    summary: str  # the first line of that command's help (tests/test_imports.py checks it)


class LazyGroup(TyperGroup):
    """A Typer group that imports a lazy subcommand's module when that subcommand is used."""

    lazy: ClassVar[Mapping[str, Lazy]] = {}
    _listing = False

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        # Listed, and offered for a mistyped name, like any command; loaded when used.
        for name, entry in self.lazy.items():
            self.commands[name] = placeholder(name, entry.summary)

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        """The command; a lazy one is loaded, except for the listing in this group's help."""
        entry = self.lazy.get(cmd_name)
        if entry is None or self._listing:
            return super().get_command(ctx, cmd_name)
        return load(cmd_name, entry.target)

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        """This group's help, listing lazy commands by their summary alone."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def load(name: str, target: str) -> _click.Command:
    """Import the target and turn it into the Click command Typer would have built."""
    module_name, attribute = target.split(":")
    found = getattr(importlib.import_module(module_name), attribute)
    if isinstance(found, typer.Typer):
        command: _click.Command = typer.main.get_group(found)
    else:
        single = typer.Typer(add_completion=False)
        single.command(name)(found)
        command = typer.main.get_command(single)
    command.name = name
    return command


def placeholder(name: str, summary: str) -> _click.Command:
    """A command that only carries its name and summary, for a help listing."""
    single = typer.Typer(add_completion=False)
    single.command(name, help=summary)(_nothing)
    return typer.main.get_command(single)


def _nothing() -> None:
    """Never run: a placeholder is only listed."""
