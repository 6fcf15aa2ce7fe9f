"""Terminal rendering of a scan: callbacks in the order the kernel runs them.

Order (kernel/panic.c panic(), 6.1, with crash_kexec_post_notifiers set): the
panic notifier chain by descending priority (equal priorities in registration
order, which the scanner approximates by file order), then the kmsg dumpers,
then __crash_kexec -> machine_crash_shutdown and its hooks.
"""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table

from panicpath.scan.results import Callback, ScanResult

_RISKY = {"lock": "red", "mutex": "bold red", "sleep": "bold red", "ipi": "magenta",
          "host": "magenta", "poll": "magenta", "wait": "magenta", "vmbus": "cyan",
          "hypercall": "cyan", "spin": "yellow", "trylock": "green"}


def _features(cb: Callback) -> str:
    counts = Counter(f.kind for f in cb.features)
    parts = []
    for kind, n in sorted(counts.items()):
        style = _RISKY.get(kind)
        label = kind if n == 1 else f"{kind}×{n}"
        parts.append(f"[{style}]{label}[/]" if style else label)
    return " ".join(parts)


def _priority(cb: Callback) -> str:
    if cb.priority is None:
        return cb.priority_expr or "-"
    if cb.priority_expr and cb.priority_expr != str(cb.priority):
        return f"{cb.priority_expr} ({cb.priority})"
    return str(cb.priority)


def render_scan_table(result: ScanResult, console: Console) -> None:
    """Print the callbacks, the post_notifiers writers and a summary line."""
    table = Table(title=f"Panic-path callbacks in {result.tree} (run order)", show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("list")
    table.add_column("priority", justify="right")
    table.add_column("callback")
    table.add_column("file:line")
    table.add_column("risk features")
    for i, cb in enumerate(result.callbacks, 1):
        name = cb.callback or "[dim](unresolved)[/]"
        if cb.max_reason:
            name += f" [dim]max_reason={cb.max_reason}[/]"
        table.add_row(str(i), cb.list, _priority(cb), name, f"{cb.file}:{cb.line}",
                      _features(cb))
    console.print(table)
    writers = Table(title="Writers of crash_kexec_post_notifiers")
    for column in ("file:line", "function", "condition", "value"):
        writers.add_column(column)
    for w in result.post_notifiers_writers:
        writers.add_row(f"{w.file}:{w.line}", w.function or "-", w.condition or "(always)",
                        w.value)
    console.print(writers)
    console.print(
        f"{len(result.callbacks)} callbacks, {len(result.unregistrations)} unregistrations, "
        f"{len(result.errors)} files with problems; {result.stats.files_parsed} of "
        f"{result.stats.files_seen} C files parsed in {result.stats.seconds:.1f} s")
