"""``panicpath scan PATH [--json] [--jobs N] [--policy-out F]`` and ``scan --source SERIES``
as a click command the CLI group adds."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from panicpath.names import one_line
from panicpath.outputs import OutputFile
from panicpath.scan.jsonio import scan_result_to_json
from panicpath.scan.runner import scan_tree
from panicpath.scan.sources import ScanInputError

if TYPE_CHECKING:
    from panicpath.scan.panic_policy import Derivation
    from panicpath.scan.results import ScanResult


def _fail(msg: str) -> NoReturn:
    click.echo(f"panicpath scan: {one_line(msg)}", err=True)
    sys.exit(2)


@click.command("scan")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the scan as JSON.")
@click.option("--jobs", "-j", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Worker processes for parsing.")
@click.option("--no-cache", is_flag=True, help="Do not use or fill the tarball scan cache.")
@click.option("--source", "series", default=None, metavar="SERIES",
              help="Scan Debian's linux-source-SERIES (e.g. 6.12), fetched through the lab's "
                   "private apt state and cached (docs/policy-files.md), instead of PATH.")
@click.option("--policy-out", "policy_out", type=OutputFile(path_type=Path),
              default=None, help="Also derive the policy of the tree's panic() and write it "
                                 "as a policy file (docs/policy-files.md).")
def scan_command(path: Path | None, as_json: bool, jobs: int, no_cache: bool,
                 series: str | None, policy_out: Path | None) -> None:
    """Find every panic-path callback in a kernel source tree or tarball; with
    --policy-out, also write the policy its panic() derives."""
    if (path is None) == (series is None):
        _fail("give a kernel tree or tarball (PATH) or --source SERIES, one of the two")
    if series is not None:
        from panicpath.scan.kernel_sources import SourceError, ensure_source

        try:
            path = ensure_source(series)
        except SourceError as exc:
            _fail(str(exc))
    assert path is not None
    derived = None
    try:
        if policy_out is not None:
            derived, result = _derive_and_scan(path, jobs, not no_cache)
        else:
            result = scan_tree(path, jobs, use_cache=not no_cache)
    except ScanInputError as exc:
        _fail(str(exc))
    for error in result.errors:
        click.echo(f"panicpath scan: {error.file}: {error.message}", err=True)
    if derived is not None and policy_out is not None:
        _write(derived, policy_out)
    if as_json:
        doc = scan_result_to_json(result)
        if derived is not None:
            doc["policy"] = {"policy_file": str(policy_out), "name": derived.default_name(),
                             **derived.to_json()}
        click.echo(json.dumps(doc, indent=2))
        return
    from rich.console import Console

    from panicpath.scan.table import render_scan_table

    render_scan_table(result, Console())
    if derived is not None:
        click.echo(render_derivation(derived, str(policy_out)))


def _derive_and_scan(path: Path, jobs: int, use_cache: bool) -> tuple[Derivation, ScanResult]:
    """The derivation of a tree (before its scan), or of a tarball's panic-path files
    (extracted to a temporary directory while the scan reads the tarball:
    scan/tree_model.py derive_and_scan); ScanInputError when it cannot be had."""
    from panicpath.scan.sources import check_path
    from panicpath.scan.tree_model import derive_and_scan

    d, result, _, _ = derive_and_scan(path, check_path(path), jobs, use_cache)
    return d, result


def _write(d: Derivation, out: Path) -> None:
    from panicpath.policies.policy_file import dump_policy

    head, _, rest = dump_policy(d.policy()).partition("\n# written by")
    text = (f"{head}\n# written by `panicpath scan --policy-out` from {one_line(d.tree)}; "
            "use it with --policy-file\n" + rest.partition("\n")[2])
    try:
        out.write_text(text, encoding="utf-8")
    except (OSError, ValueError) as exc:
        _fail(f"--policy-out {out}: cannot write ({getattr(exc, 'strerror', None) or exc})")


def render_derivation(d: Derivation, out: str) -> str:
    """The derivation as the terminal shows it: program, features, unmodelled calls."""
    lines = [f"policy {d.default_name()!r} written to {out}: {d.function}() of Linux "
             f"{d.release} (kernel/panic.c:{d.line})"]
    for i, o in enumerate(d.ops, 1):
        when = f" [{o.when}]" if o.when else ""
        lines.append(f"  {i:2} {o.step + when:34} {o.file}:{o.line}  {o.call}")
    lines.append("features: " + (", ".join(f"{f} ({w})" for f, w in d.features) or "none"))
    lines += [f"merged: {m}" for m in d.merged]
    lines += [f"unmodelled: {u}" for u in d.unmodelled]
    return "\n".join(lines)
