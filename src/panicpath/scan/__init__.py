"""Kernel source scanner: every panic-path callback in a real tree, with its risks.

Public entry points::

    scan_tree(path, jobs=1) -> ScanResult
    scan_result_to_json(result) -> dict
    render_scan_table(result, console) -> None
    scan_to_user_callbacks(scan_json) -> list[dict]
    scan_command   # click.Command for ``panicpath scan``
"""

from panicpath.scan.command import scan_command
from panicpath.scan.jsonio import scan_result_to_json
from panicpath.scan.results import Callback, Feature, PostNotifiersWriter, ScanResult
from panicpath.scan.runner import ScanInputError, scan_tree
from panicpath.scan.table import render_scan_table
from panicpath.scan.to_model import scan_to_user_callbacks

__all__ = [
    "Callback",
    "Feature",
    "PostNotifiersWriter",
    "ScanInputError",
    "ScanResult",
    "render_scan_table",
    "scan_command",
    "scan_result_to_json",
    "scan_to_user_callbacks",
    "scan_tree",
]
