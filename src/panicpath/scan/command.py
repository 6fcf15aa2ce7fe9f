"""``panicpath scan PATH [--json] [--jobs N]`` as a click command the CLI group adds."""

from __future__ import annotations

import json
from pathlib import Path

import click

from panicpath.names import one_line
from panicpath.scan.jsonio import scan_result_to_json
from panicpath.scan.runner import scan_tree
from panicpath.scan.sources import ScanInputError


@click.command("scan")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the scan as JSON.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes for parsing.")
@click.option("--no-cache", is_flag=True, help="Do not use or fill the tarball scan cache.")
def scan_command(path: Path, as_json: bool, jobs: int, no_cache: bool) -> None:
    """Find every panic-path callback in a kernel source tree or tarball."""
    try:
        result = scan_tree(path, jobs, use_cache=not no_cache)
    except ScanInputError as exc:
        click.echo(f"panicpath scan: {one_line(str(exc))}", err=True)
        raise SystemExit(2) from None
    for error in result.errors:
        click.echo(f"panicpath scan: {error.file}: {error.message}", err=True)
    if as_json:
        click.echo(json.dumps(scan_result_to_json(result), indent=2))
    else:
        from rich.console import Console

        from panicpath.scan.table import render_scan_table

        render_scan_table(result, Console())
