"""Kernel source scanner: every panic-path callback in a real tree, with its risks.

Public entry points::

    scan_tree(path, jobs=1) -> ScanResult
    scan_result_to_json(result) -> dict
    render_scan_table(result, console) -> None
    scan_to_user_callbacks(scan_json) -> list[dict]
    scan_command   # click.Command for ``panicpath scan``
"""

from typing import TYPE_CHECKING, Any

from panicpath.scan.results import Callback, Feature, PostNotifiersWriter, ScanResult
from panicpath.scan.runner import ScanInputError, scan_tree

if TYPE_CHECKING:
    from panicpath.scan.command import scan_command
    from panicpath.scan.jsonio import scan_result_to_json
    from panicpath.scan.table import render_scan_table
    from panicpath.scan.to_model import scan_to_user_callbacks

_LAZY = {
    "scan_command": "panicpath.scan.command",
    "scan_result_to_json": "panicpath.scan.jsonio",
    "render_scan_table": "panicpath.scan.table",
    "scan_to_user_callbacks": "panicpath.scan.to_model",
}


def __getattr__(name: str) -> Any:
    """The CLI, JSON, table and model adapters, imported on first use (they pull in click,
    rich and the model, which ``scan_tree`` does not need)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
