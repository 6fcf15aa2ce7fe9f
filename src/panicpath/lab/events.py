"""Typed events that a lab run produces, from the serial console and from QMP.

Every event carries ``t``, the host's monotonic time in seconds since QEMU was
started (None when the source had no timestamp), and ``boot``, the index of the
kernel that produced it (0 = first kernel, 1 = the crash kernel booted by kexec).
``source`` says where a panic-path event was read: ``"console"`` (the serial
console of the running kernel) or ``"pstore"`` (the panic record that a kmsg
dumper left in ramoops, printed by the crash kernel).

The events are plain frozen dataclasses so that parsers stay pure and tests can
compare whole sequences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Source = Literal["console", "pstore"]


@dataclass(frozen=True)
class KernelBooted:
    """A ``Linux version`` banner (init/version.c ``linux_banner``, printed by
    start_kernel()); the second one is the crash kernel."""

    release: str
    boot: int
    t: float | None = None


@dataclass(frozen=True)
class LabMark:
    """A ``LABMARK NAME`` line written by the lab's ``/init`` (phase marker)."""

    name: str
    boot: int
    t: float | None = None


@dataclass(frozen=True)
class CrashKernelLoaded:
    """``/init`` ran ``kexec -p``; ``loaded`` is /sys/kernel/kexec_crash_loaded."""

    loaded: bool
    boot: int
    t: float | None = None


@dataclass(frozen=True)
class PanicStarted:
    """``Kernel panic - not syncing: MSG`` (kernel/panic.c panic(), 6.1)."""

    message: str
    boot: int
    source: Source = "console"
    t: float | None = None


@dataclass(frozen=True)
class PanicEnded:
    """``---[ end Kernel panic - not syncing: MSG ]---``: panic() reached its
    final loop (kernel/panic.c panic(), 6.1)."""

    message: str
    boot: int
    t: float | None = None


@dataclass(frozen=True)
class ProbeNotifierRan:
    """A probe panic notifier printed its entry marker:
    ``LABPANIC notifier NAME prio=P cpu=C kexec_crash_loaded=K``."""

    name: str
    priority: int
    cpu: int
    kexec_crash_loaded: bool
    boot: int
    source: Source = "console"
    t: float | None = None


@dataclass(frozen=True)
class ProbeResult:
    """A probe callback's exit marker after a behaviour (spin, lock):
    ``LABPANIC notifier NAME result=WORD``."""

    name: str
    result: str
    boot: int
    source: Source = "console"
    t: float | None = None


@dataclass(frozen=True)
class KmsgDumped:
    """A probe kmsg dumper ran: ``LABPANIC kmsg_dump [NAME] reason=N (Reason)``
    (kernel/printk/printk.c kmsg_dump(), reason string from
    kmsg_dump_reason_str())."""

    name: str
    reason_code: int
    reason: str
    boot: int
    source: Source = "console"
    t: float | None = None


@dataclass(frozen=True)
class KernelOffsetPrinted:
    """``Kernel Offset: ...`` printed by the x86 panic notifier
    dump_kernel_offset() (arch/x86/kernel/setup.c, priority 0, 6.1)."""

    text: str
    boot: int
    source: Source = "console"
    t: float | None = None


@dataclass(frozen=True)
class PanicPrintOutput:
    """First line of one panic_print section after the panic started
    (kernel/panic.c panic_print_sys_info(), 6.1): ``kind`` is one of
    tasks (0x1), mem (0x2), timers (0x4), locks (0x8), ftrace (0x10)."""

    kind: str
    boot: int
    source: Source = "console"
    t: float | None = None


@dataclass(frozen=True)
class StopNmiSent:
    """``Shutting down cpus with NMI``: smp_send_stop()'s REBOOT_VECTOR IPI left CPUs
    running for 1 s, so it sends them an NMI (arch/x86/kernel/smp.c
    native_stop_other_cpus(), pr_emerg, 6.1.192)."""

    boot: int
    source: Source = "console"
    t: float | None = None


@dataclass(frozen=True)
class StopFailed:
    """``SMP: failed to stop secondary CPUs 1``: arm64's smp_send_stop() or
    crash_smp_send_stop() waited 1 s for CPUs that never took the stop IPI
    (arch/arm64/kernel/smp.c, pr_warn with the mask of the CPUs it signalled, 6.1)."""

    cpus: str
    boot: int
    source: Source = "console"
    t: float | None = None


@dataclass(frozen=True)
class VmcoreSeen:
    """The crash kernel's ``/init`` found ``/proc/vmcore`` of ``size`` bytes."""

    size: int
    boot: int
    t: float | None = None


@dataclass(frozen=True)
class VmcoreHeadersRead:
    """The crash kernel's ``/init`` sent the headers and notes of ``/proc/vmcore``
    (``LABVMCORE begin bytes=N``, base64 lines, ``LABVMCORE end md5=HEX``;
    templates/init.sh ``vmcore_headers``): ``data`` is the decoded bytes, ``error`` says
    why they cannot be trusted (not base64, wrong length or md5: a printk line cut into
    the dump), empty when they can. panicpath.lab.vmcore parses them."""

    data: bytes
    error: str
    boot: int
    t: float | None = None


@dataclass(frozen=True)
class VmcorePageRead:
    """The crash kernel read the page at old-kernel physical address ``phys`` from
    ``/proc/vmcore`` (at file ``offset``, None when no PT_LOAD holds it): read number
    ``read`` (1, then 2 three seconds later) had md5 ``digest``
    (``LABINFO vmcore page phys=0x... offset=N read=K md5=HEX``). ``via`` ``devmem``: where
    /proc/vmcore cannot reach the page (arm64 6.1's bogus first PT_LOAD puts RAM past
    2^63), the first 64 bytes read through /dev/mem instead (``... devmem read=K
    md5=HEX``; templates/init.sh)."""

    phys: int
    offset: int | None
    read: int
    digest: str
    boot: int
    t: float | None = None
    via: str = "vmcore"


@dataclass(frozen=True)
class PstoreRecord:
    """The crash kernel mounted pstore and found a record file."""

    filename: str
    size: int
    boot: int
    t: float | None = None


@dataclass(frozen=True)
class PstoreLine:
    """One line of a pstore record relayed by ``/init`` (``LABPSTORE ...``)."""

    text: str
    boot: int
    t: float | None = None


@dataclass(frozen=True)
class FaultArmed:
    """The probe module put one of the scenario's faults in place (panicpath.lab.probe):
    ``LABPANIC fault NAME DETAIL``, e.g. ``LABPANIC fault ipi-deaf-cpu cpu=1 irqs-off``
    or ``LABPANIC fault dma-active cpu=1 phys=0x...``; ``detail`` holds the
    ``key=value`` words."""

    fault: str
    detail: tuple[tuple[str, str], ...]
    boot: int
    t: float | None = None

    def get(self, key: str) -> str | None:
        """Value of one detail key, or None."""
        return dict(self.detail).get(key)


@dataclass(frozen=True)
class NoProgress:
    """Written by the harness, not the guest: the kernel had panicked and then did not
    reach the crash kernel or the end of panic() within the ``phase`` timeout of
    ``timeout_s`` seconds (panicpath.lab.harness): the lab's observation of a hang."""

    phase: str
    timeout_s: float
    boot: int
    t: float | None = None


@dataclass(frozen=True)
class QmpEvent:
    """An asynchronous QMP event (GUEST_PANICKED, GUEST_CRASHLOADED, SHUTDOWN,
    ...) with its data dictionary rendered as sorted (key, value) pairs."""

    name: str
    data: tuple[tuple[str, str], ...] = field(default=())
    t: float | None = None

    def get(self, key: str) -> str | None:
        """Value of one data key, or None."""
        return dict(self.data).get(key)


Event = (
    KernelBooted
    | LabMark
    | CrashKernelLoaded
    | PanicStarted
    | PanicEnded
    | ProbeNotifierRan
    | ProbeResult
    | KmsgDumped
    | KernelOffsetPrinted
    | PanicPrintOutput
    | StopNmiSent
    | StopFailed
    | VmcoreSeen
    | VmcoreHeadersRead
    | VmcorePageRead
    | PstoreRecord
    | PstoreLine
    | FaultArmed
    | NoProgress
    | QmpEvent
)
