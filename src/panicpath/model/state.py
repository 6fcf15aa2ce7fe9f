"""Machine state that the panic path runs over.

The state is plain mutable data, copied once per run (`Machine.copy`). Steps in
`panicpath.model.steps` and the architecture code in `panicpath.arch` read and
change it; nothing else decides an outcome.
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass, field


class CpuMode(enum.Enum):
    """What a CPU is doing when the panic CPU looks at it."""

    RUNNING = "running"
    """Executing kernel code with interrupts enabled: answers any IPI."""
    SPINNING_IRQS_OFF = "spinning-irqs-off"
    """Stuck in a loop with interrupts masked: deaf to ordinary IPIs, not to NMIs."""
    SELF_STOPPED = "self-stopped"
    """Lost the panic_cpu race and parked itself (kernel/panic.c panic_smp_self_stop)."""
    STOPPED = "stopped"
    """Halted by a stop IPI (smp_send_stop) without saving its registers."""
    CRASH_STOPPED = "crash-stopped"
    """Halted by the crash stop path after crash_save_cpu saved its registers."""
    PANICKING = "panicking"
    """The CPU that owns panic_cpu and runs panic()."""


HALTED_MODES = frozenset({CpuMode.SELF_STOPPED, CpuMode.STOPPED, CpuMode.CRASH_STOPPED})


@dataclass
class Cpu:
    """One CPU. `online` is the cpu_online_mask bit; `apic_enabled` says whether
    NMIs/IPIs can still be delivered to it (x86 stop_this_cpu disables the local
    APIC, arch/x86/kernel/process.c)."""

    id: int
    mode: CpuMode = CpuMode.RUNNING
    online: bool = True
    apic_enabled: bool = True
    nmi_blocked: bool = False
    regs_saved: bool = False
    virt_disabled: bool = False
    locks_held: set[str] = field(default_factory=set)
    watchdog_armed: bool = False


class VmbusState(enum.Enum):
    """drivers/hv/connection.c `vmbus_connection.conn_state` as the guest sees it."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ABSENT = "absent"


@dataclass
class Host:
    """The hypervisor or host side (Hyper-V, QEMU, a BMC), as far as the guest can affect it."""

    latency_ms: int = 5
    """How long the host takes to answer a request that needs an answer (seed 001:
    CHANNELMSG_UNLOAD could take minutes)."""
    reports: list[str] = field(default_factory=list)
    """Every panic report the host received, in order (crash MSRs, kmsg page, pvpanic)."""
    vmbus_unload_posted_at: int | None = None
    vmbus_unload_done_at: int | None = None
    """Time at which the host finished tearing the guest's channels down."""
    fb_updates: list[str] = field(default_factory=list)
    """Framebuffer contents the host has been told about (hyperv_fb synthvid updates)."""
    sel_events: list[str] = field(default_factory=list)
    """IPMI System Event Log entries the BMC received."""


@dataclass
class Device:
    """A device whose state matters to the dump: a DMA engine, a watchdog."""

    name: str
    dma_active: bool = False
    dma_stopped_at: int | None = None


@dataclass
class Machine:
    """The whole machine at one instant of the panic path."""

    cpus: list[Cpu]
    panic_cpu: int | None = None
    now_ms: int = 0
    locks: dict[str, int | None] = field(default_factory=dict)
    """lock name -> id of the holding CPU (None: free)."""
    host: Host = field(default_factory=Host)
    devices: dict[str, Device] = field(default_factory=dict)
    vmbus: VmbusState = VmbusState.ABSENT
    notifier_list_corrupt: bool = False
    corrupt_next_of: str = ""
    """The callback whose notifier_block.next is garbage (empty: the list head's, when
    notifier_list_corrupt is set)."""
    crash_image_loaded: bool = False
    crash_image_wanted: bool = False
    """kdump is configured (a crash kernel for this arch and release, kexec -p run): the
    vmcore is expected whether or not the image fitted the reservation (model/capture.py
    crash_image_fits), so vmcore-captured applies and fails when it did not."""
    kexec_lock_held: bool = False
    post_notifiers: bool = False
    """The `crash_kexec_post_notifiers` global (kernel/panic.c); forcers write it at boot."""
    post_notifiers_snapshot: bool = False
    """The value panic() snapshotted at entry (6.1: a local copy)."""
    log: list[str] = field(default_factory=list)
    """printk ring buffer: every line printed, in order."""
    console: list[str] = field(default_factory=list)
    console_ms: list[int] = field(default_factory=list)
    """When each console line was printed (simulated ms), in step with `console`."""
    """Lines that reached the console."""
    console_deferred: bool = False
    """printk from NMI context is deferred and reaches the console only at the next flush."""
    persisted_logs: list[str] = field(default_factory=list)
    """Where a copy of the panic log was stored (pstore, host page, vmcore)."""
    pvpanic_events: list[str] = field(default_factory=list)
    bmc_watchdog_timeout_s: int | None = None
    """IPMI watchdog timeout as last set (None: no BMC watchdog armed)."""
    bmc_watchdog_pet_ms: int = 0
    hw_watchdogs: dict[str, int] = field(default_factory=dict)
    """Watchdog devices a userspace daemon keeps alive through /dev/watchdog (name ->
    timeout in s). Its last keepalive is at the panic (t = 0; the daemon pets it every
    fraction of a second until panic() stops the CPUs); nothing in panic() or kdump stops
    or pets it (catalog driver i6300esb), so it expires that long after the panic."""
    stop_done: bool = False
    """Static flag of crash_smp_send_stop (runs once)."""
    shootdown_done: bool = False
    """x86 crash_ipi_issued: nmi_shootdown_cpus refuses a second shootdown."""
    panic_reported_once: bool = False
    """x86 hyperv_report_panic's static `panic_reported`."""
    memory_writes_after_crash: list[str] = field(default_factory=list)
    """Who changed memory the dump reads after the crash point (the handover to the capture kernel)."""
    vmcore: dict[str, object] | None = None
    """What the capture kernel wrote, or None when no vmcore was captured."""
    capture_booted: bool = False
    dump_target_reachable: bool | None = None
    fb_dirty: bool = True
    risky_ops_before_kdump: list[str] = field(default_factory=list)
    callbacks_before_kdump: list[str] = field(default_factory=list)
    kdump_entered: bool = False
    handover_ms: int | None = None
    """When machine_kexec handed over to the capture kernel (the crash point)."""
    end_ms: int = 0
    end: str | None = None
    """How the path ended: 'capture-kernel', 'firmware-dump', 'reboot', 'halt-loop', 'hang'."""
    end_reason: str = ""

    def snapshot(self) -> dict[str, object]:
        """A flat view of the state (variable name -> JSON-able value), for traces that show
        only what changed from one step to the next."""
        out: dict[str, object] = {
            "now_ms": self.now_ms,
            "vmbus": self.vmbus.value,
            "post_notifiers": self.post_notifiers,
            "notifier_list_corrupt": self.notifier_list_corrupt,
            **({"corrupt_next_of": self.corrupt_next_of} if self.corrupt_next_of else {}),
            "crash_image_loaded": self.crash_image_loaded,
            "kdump_entered": self.kdump_entered,
            "console_deferred": self.console_deferred,
            "host.latency_ms": self.host.latency_ms,
            "host.reports": list(self.host.reports),
            "host.vmbus_unload_done_at": self.host.vmbus_unload_done_at,
            "host.fb_updates": len(self.host.fb_updates),
            "persisted_logs": list(self.persisted_logs),
            "pvpanic_events": list(self.pvpanic_events),
            "bmc_watchdog_timeout_s": self.bmc_watchdog_timeout_s,
            **({"hw_watchdogs": dict(self.hw_watchdogs)} if self.hw_watchdogs else {}),
            "memory_writes_after_crash": list(self.memory_writes_after_crash),
            "vmcore": None if self.vmcore is None else str(self.vmcore.get("by")),
            "end": self.end,
        }
        for name, holder in sorted(self.locks.items()):
            out[f"locks.{name}"] = holder
        for dev in self.devices.values():
            out[f"devices.{dev.name}.dma_active"] = dev.dma_active
        for c in self.cpus:
            out[f"cpu{c.id}.mode"] = c.mode.value
            out[f"cpu{c.id}.online"] = c.online
            out[f"cpu{c.id}.apic_enabled"] = c.apic_enabled
            out[f"cpu{c.id}.nmi_blocked"] = c.nmi_blocked
            out[f"cpu{c.id}.regs_saved"] = c.regs_saved
            out[f"cpu{c.id}.watchdog_armed"] = c.watchdog_armed
        return out

    def copy(self) -> Machine:
        """A deep copy, so one initial state can seed many runs."""
        return copy.deepcopy(self)

    def other_cpus(self) -> list[Cpu]:
        """Every CPU but the panic CPU."""
        return [c for c in self.cpus if c.id != self.panic_cpu]

    @property
    def me(self) -> Cpu:
        """The CPU running panic()."""
        assert self.panic_cpu is not None
        return self.cpus[self.panic_cpu]
