"""``panicpath export promela``: the checker's question as a Promela model, optionally with
SPIN's verdict on it (the second opinion of issue 5; see panicpath.check.promela)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from panicpath.check.cli import (
    EXIT_BAD_INPUT,
    EXIT_HOLDS,
    EXIT_INTERNAL,
    EXIT_VIOLATED,
    question_from_options,
    question_options,
    resolve_policy,
)
from panicpath.check.promela import ExportError, SpinError, promela, spin_verdict
from panicpath.names import one_line
from panicpath.outputs import OutputFile


@click.group(name="export")
def export_group() -> None:
    """Write the checker's question in another tool's language."""


@export_group.command(name="promela")
@question_options
@click.option("-o", "--out", type=OutputFile(path_type=Path), default=None,
              help="Write the model here (default: standard output).")
@click.option("--spin", "run_spin", is_flag=True,
              help="Also run spin -a, cc and pan, print SPIN's verdict and exit like "
                   "`panicpath check` (0 holds, 12 violated).")
def promela_command(policy: str | None, policy_file: str | None, prop: str, arches: tuple[str, ...],
                    hypervisors: tuple[str, ...], max_faults: int, faults: tuple[str, ...],
                    with_no_kdump: bool, cpus: int, out: Path | None, run_spin: bool) -> None:
    """A Promela model of `panicpath check` with the same options."""
    if cpus < 2:
        click.echo("panicpath: error: --cpus must be at least 2 for the Promela model "
                   "(faults act on another CPU)", err=True)
        sys.exit(EXIT_BAD_INPUT)
    policy = resolve_policy(policy, policy_file)
    q = question_from_options(policy, prop, arches, hypervisors, max_faults, faults,
                              with_no_kdump, cpus)
    try:
        text = promela(q)
    except ExportError as e:
        click.echo(f"panicpath: error: {one_line(str(e))}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    if out is not None:
        try:
            out.write_text(text, encoding="utf-8")
        except OSError as e:
            click.echo(f"panicpath: error: {out}: cannot write: {e.strerror}", err=True)
            sys.exit(EXIT_BAD_INPUT)
    elif not run_spin:
        click.echo(text, nl=False)
    if not run_spin:
        return
    try:
        with tempfile.TemporaryDirectory(prefix="panicpath-spin-") as work:
            r = spin_verdict(q, Path(work))
    except SpinError as e:
        click.echo(f"panicpath: error: {one_line(str(e))}", err=True)
        sys.exit(EXIT_INTERNAL)
    verdict = "holds" if r.holds else "VIOLATED"
    click.echo(f"SPIN: {policy}: {prop} {verdict} (up to {max_faults} faults); {r.states} states "
               f"stored, spin -a + cc + pan {r.seconds:.2f} s")
    sys.exit(EXIT_HOLDS if r.holds else EXIT_VIOLATED)
