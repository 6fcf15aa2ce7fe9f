"""Callbacks as data: where a driver hooks into the panic path, what it needs and what it does.

A callback never decides an outcome. Its `needs` say what it depends on (a live
VMbus, a lock, working IPIs, a host that answers); its `effects` say what it does
when it runs. `panicpath.model.effects` executes both against the machine state.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LISTS = ("panic_notifier_list", "kmsg_dumper", "crash_shutdown")
"""Where a callback can be registered:

- ``panic_notifier_list``: kernel/panic.c, run by atomic_notifier_call_chain.
- ``kmsg_dumper``: kernel/printk/printk.c kmsg_dump_register, run by kmsg_dump().
- ``crash_shutdown``: the architecture's hook inside machine_crash_shutdown (x86
  machine_ops.crash_shutdown override, powerpc crash_shutdown_register).
"""

NEED_KINDS = ("vmbus", "lock", "trylock", "mutex", "ipi", "host", "other-cpus-online",
              "no-crash-kernel")
"""`no-crash-kernel`: the callback returns early when kexec_crash_loaded() (a crash image is
loaded), as the posted patch 16 of Piccoli's 2022 series did in hv_panic_vmbus_unload
(seed 004) and pvpanic/xen do for their own choices."""
EFFECT_KINDS = (
    "print",
    "spin",
    "hang",
    "notify-stop",
    "vmbus-unload",
    "hv-report-panic",
    "hv-kmsg-dump",
    "hv-stimer-cleanup",
    "fb-update",
    "stop-dma",
    "pvpanic",
    "persist-log",
    "stop-watchdogs-online",
    "ipmi-panic",
    "firmware-dump",
    "kvm-pv-off",
    "hypercall",
    "mmio",
    "alloc",
    "reboot",
    "snp-iommu-shutdown",
    "xen-panic",
    "os-term",
    "kmsg-dump",
)

NOTIFY_DONE = 0x0000
NOTIFY_OK = 0x0001
NOTIFY_STOP_MASK = 0x8000
NOTIFY_STOP = NOTIFY_OK | NOTIFY_STOP_MASK
"""include/linux/notifier.h (unchanged since 2.6)."""

INT_MAX = 2**31 - 1
INT_MIN = -(2**31)

KMSG_DUMP_REASONS = {"UNDEF": 0, "PANIC": 1, "OOPS": 2, "EMERG": 3, "SHUTDOWN": 4, "MAX": 5}
"""include/linux/kmsg_dump.h enum kmsg_dump_reason (6.1 order; compared with >)."""

_PRIORITY_RE = re.compile(r"^\s*(INT_MAX|INT_MIN)?\s*(?:([+-])\s*([0-9]+))?\s*$|^\s*(-?[0-9]+)\s*$")


class CallbackError(ValueError):
    """A callback declaration that cannot be understood (bad need, effect, list...)."""


@dataclass(frozen=True, slots=True)
class Need:
    """One requirement: ``kind`` from NEED_KINDS and an optional argument (a lock name).

    ``wait_ms`` (trylock only): the trylock is retried for this long before the callback
    gives up, so a held lock costs that time (the lab probe's probe_take_lock(): a
    raw_spin_trylock() every ms up to its timeout, templates/probe.c.j2); 0 is the plain
    spin_trylock() of the drivers, which fails at once."""

    kind: str
    arg: str = ""
    wait_ms: int = 0

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind


@dataclass(frozen=True, slots=True)
class Effect:
    """One action: ``kind`` from EFFECT_KINDS and an optional argument (text, milliseconds)."""

    kind: str
    arg: str = ""

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.arg else self.kind


@dataclass(frozen=True, slots=True)
class Callback:
    """A callback registered on the panic path.

    `order` is the registration order among callbacks (boot order: lower
    registers first); it decides ties of equal priority on a notifier chain and
    the order of kmsg dumpers. `max_reason` is the kmsg dumper's field.
    `forces_post_notifiers` marks drivers that set crash_kexec_post_notifiers at
    init. `sources` cites the driver source (6.1 and mainline where they differ).
    """

    name: str
    list: str
    priority: int = 0
    needs: tuple[Need, ...] = ()
    effects: tuple[Effect, ...] = ()
    order: int = 0
    max_reason: str = "UNDEF"
    forces_post_notifiers: bool = False
    risky: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    doc: str = ""

    @property
    def source(self) -> str:
        """First citation, for one-line trace output."""
        return self.sources[0] if self.sources else "user callback"


LOCK_NEEDS = ("lock", "trylock", "mutex")
"""The needs that name a lock (``lock:NAME``); the other needs take no argument."""

EFFECT_ARGS: dict[str, tuple[str, bool]] = {
    "print": ("the text printed (default: the callback's name)", False),
    "spin": ("milliseconds, digits 0-9", True),
    "stop-dma": ("the device whose DMA it stops, e.g. bcm-vk", True),
    "persist-log": ("the pstore backend, e.g. ramoops (default: the callback's name)", False),
}
"""The effects that take an argument (``kind:ARG``): what it is, and whether it is
required; the other effects take none."""


def parse_need(text: str) -> Need:
    """``"lock:vmbus-ring"`` -> Need('lock', 'vmbus-ring'); validates the kind and that an
    argument is given where one is taken (a lock's name) and only there."""
    kind, sep, arg = text.strip().partition(":")
    if kind not in NEED_KINDS:
        raise CallbackError(f"unknown need {text!r}; valid: {', '.join(NEED_KINDS)}")
    if kind in LOCK_NEEDS and not arg.strip():
        raise CallbackError(f"need {text!r} must name the lock, e.g. '{kind}:my_lock'")
    if kind not in LOCK_NEEDS and sep:
        raise CallbackError(f"need {text!r}: {kind} takes no argument; valid: {kind}")
    return Need(kind, arg)


def parse_effect(text: str) -> Effect:
    """``"spin:500"`` -> Effect('spin', '500'); validates the kind and that its argument is
    given where one is required, of its form (milliseconds in ASCII digits), and absent
    where none is taken."""
    kind, sep, arg = text.strip().partition(":")
    if kind not in EFFECT_KINDS:
        raise CallbackError(f"unknown effect {text!r}; valid: {', '.join(EFFECT_KINDS)}")
    if kind not in EFFECT_ARGS:
        if sep:
            raise CallbackError(f"effect {text!r}: {kind} takes no argument; valid: {kind}")
        return Effect(kind)
    what, required = EFFECT_ARGS[kind]
    if required and not arg:
        raise CallbackError(f"effect {text!r} needs an argument: {kind}:ARG with ARG {what}")
    if kind == "spin" and not (arg.isascii() and arg.isdigit()):
        raise CallbackError(f"effect {text!r} needs milliseconds, e.g. 'spin:500'")
    return Effect(kind, arg)


def parse_priority(value: object) -> int:
    """An int, or a C-like expression ``INT_MIN + 10`` / ``INT_MAX`` / ``-200``."""
    if isinstance(value, bool):
        raise CallbackError(f"priority {value!r} is not an integer")
    out: int | None = None
    if isinstance(value, int):
        out = value
    elif isinstance(value, str):
        m = _PRIORITY_RE.match(value)
        if m:
            if m.group(4) is not None:
                out = int(m.group(4))
            else:
                base = {"INT_MAX": INT_MAX, "INT_MIN": INT_MIN, None: 0}[m.group(1)]
                if m.group(2):
                    delta = int(m.group(3))
                    out = base + delta if m.group(2) == "+" else base - delta
                elif m.group(1):
                    out = base
    if out is None:
        raise CallbackError(
            f"priority {value!r} is not an integer or INT_MAX/INT_MIN +/- N"
        )
    if not INT_MIN <= out <= INT_MAX:
        raise CallbackError(f"priority {value!r} is outside the C int range "
                            f"(struct notifier_block.priority): INT_MIN..INT_MAX")
    return out
