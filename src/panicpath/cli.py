"""The `panicpath` command line: a group whose subcommands are imported when named.

``panicpath scan`` should not pay for importing the model, the checker and the
lab (half a second of a two-second scan), so each subcommand's module is
imported only when that subcommand runs or help lists it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from panicpath.names import one_line

#: Subcommand name -> "module:attribute" of its click command.
SUBCOMMANDS: dict[str, str] = {
    "run": "panicpath.commands:run",
    "compare": "panicpath.commands:compare",
    "answers": "panicpath.commands:answers",
    "inputs": "panicpath.commands:inputs_cmd",
    "policies": "panicpath.commands:policies",
    "drivers": "panicpath.commands:drivers",
    "faults": "panicpath.commands:faults",
    "properties": "panicpath.commands:properties_cmd",
    "arches": "panicpath.commands:arches_cmd",
    "scan": "panicpath.scan.command:scan_command",
    "lab": "panicpath.lab.cli:lab_group",
    "check": "panicpath.check.cli:check_command",
    "replay": "panicpath.check.cli:replay_command",
    "export": "panicpath.check.export_cli:export_group",
}


#: Subcommands whose parts may be missing (an import error hides them); an import
#: error in any other is a bug and is raised.
OPTIONAL = frozenset({"lab", "check", "replay", "export"})


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in SUBCOMMANDS if self.get_command(ctx, name) is not None)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            cmd = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError):
            if cmd_name in OPTIONAL:
                return None  # an optional part that is not installed never breaks the rest
            raise
        return cmd if isinstance(cmd, click.Command) else None

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """Click's main, but a usage error (bad option value, unknown option, missing
        argument) is one line on stderr and exit 2, like every other bad input."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, False, **extra)
        except click.exceptions.NoArgsIsHelpError as e:
            e.show()  # a group named alone: its help, as click prints it
            sys.exit(e.exit_code)
        except click.ClickException as e:
            click.echo(usage_line(e), err=True)
            sys.exit(2)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


def usage_line(e: click.ClickException) -> str:
    """A click error as the one line panicpath prints for bad input: the command, the
    message folded to one line, where to read the valid forms."""
    ctx = e.ctx if isinstance(e, click.UsageError) else None
    path = " ".join(["panicpath", *(ctx.command_path.split()[1:] if ctx is not None else [])])
    msg = " ".join(e.format_message().split())
    return one_line(f"panicpath: error: {msg} (see `{path} --help`)")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="panicpath")
def main() -> None:
    """panicpath: the Linux kernel's panic path, executable."""


__all__ = ["SUBCOMMANDS", "main"]
