"""Typed results of a kernel source scan.

Every record carries the file (relative to the scanned tree) and the 1-based line
where the scanner saw it, so a reader can open the kernel source and check.
The lists named here are the three places panic() (kernel/panic.c, 6.1) and
__crash_kexec() (kernel/kexec_core.c, 6.1) call into driver code before or
instead of kdump: the atomic panic notifier chain, the kmsg dumpers and the
architecture's crash-shutdown hooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PANIC_LIST = "panic_notifier_list"
KMSG_LIST = "kmsg_dumper"
CRASH_LIST = "crash_shutdown"

#: Order in which panic() reaches the lists when crash_kexec_post_notifiers is
#: set (kernel/panic.c panic(), 6.1: notifier chain, then kmsg_dump(PANIC), then
#: __crash_kexec -> machine_crash_shutdown).
LIST_ORDER: tuple[str, ...] = (PANIC_LIST, KMSG_LIST, CRASH_LIST)


@dataclass(frozen=True)
class Feature:
    """One risky thing a callback (or a same-file function it calls) does.

    ``detail`` starts with a machine-readable value for the kinds that have one
    (``lock``/``trylock``/``mutex``: ``NAME: ...``; ``spin``: ``MS ms: ...`` or
    ``? ms: ...``); see docs/scan.md.
    """

    kind: str
    line: int
    detail: str


@dataclass(frozen=True)
class Callback:
    """A function the kernel will call on the panic / crash path."""

    list: str
    file: str
    line: int
    callback: str
    priority: int | None
    priority_expr: str
    features: tuple[Feature, ...] = ()
    via: str = ""
    max_reason: str | None = None


@dataclass(frozen=True)
class PostNotifiersWriter:
    """A statement that writes ``crash_kexec_post_notifiers`` (kernel/panic.c)."""

    file: str
    line: int
    function: str
    condition: str
    value: str


@dataclass(frozen=True)
class Unregistration:
    """A call that removes a callback from one of the lists."""

    list: str
    file: str
    line: int
    callback: str
    via: str = ""


@dataclass(frozen=True)
class ScanError:
    """A file the scanner could not (fully) read; the scan goes on without it."""

    file: str
    message: str


@dataclass(frozen=True)
class FileFindings:
    """Everything found in one file (the unit a worker process returns)."""

    callbacks: tuple[Callback, ...] = ()
    writers: tuple[PostNotifiersWriter, ...] = ()
    unregistrations: tuple[Unregistration, ...] = ()
    errors: tuple[ScanError, ...] = ()
    parsed: bool = True


@dataclass(frozen=True)
class ScanStats:
    """How much of the tree was looked at."""

    files_seen: int = 0
    files_parsed: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class ScanResult:
    """The result of scanning one kernel tree or tarball."""

    tree: str
    callbacks: tuple[Callback, ...] = ()
    post_notifiers_writers: tuple[PostNotifiersWriter, ...] = ()
    unregistrations: tuple[Unregistration, ...] = ()
    errors: tuple[ScanError, ...] = ()
    stats: ScanStats = field(default_factory=ScanStats)
