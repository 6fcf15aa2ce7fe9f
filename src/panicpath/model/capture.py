"""The capture (kdump) kernel's boot, as a modelled phase: what it finds when it starts.

The crash point is the handover in machine_kexec(): from there the old kernel's
memory is what /proc/vmcore exposes, so anything that writes it afterwards (a
device still doing DMA, a CPU still running old-kernel code, a hypervisor still
updating a PV page) changes the dump. The capture kernel boots with
`reset_devices`, `nr_cpus=1` and no driver .shutdown() having run (seed 000:
kdump skips drivers' .shutdown()).
"""

from __future__ import annotations

from panicpath.model.effects import VMBUS_UNLOAD_TIMEOUT_MS
from panicpath.model.run import Run
from panicpath.model.scenario import DEFAULT_DUMP_COPY_MS, Scenario
from panicpath.model.state import CpuMode, VmbusState

CAPTURE_BOOT_MS = 5_000
"""Boot of a small capture kernel to its dump tool (lab/README: ~3-6 s under TCG)."""
DUMP_COPY_MS = DEFAULT_DUMP_COPY_MS
"""Default time for makedumpfile to copy /proc/vmcore (a scenario's dump_copy_ms)."""
OCTEON_WDT_MS = 10_000
"""Octeon CIU watchdog expiry ([I]: drivers/watchdog/octeon-wdt-main.c heartbeat of seconds)."""


HW_WATCHDOG_DEFAULT_S = {"i6300esb": 30}
"""A watchdog device's timeout when its heartbeat parameter is not given
(drivers/watchdog/i6300esb.c ESB_HEARTBEAT_DEFAULT, 6.1)."""


def hw_watchdog_timeout_s(scn: Scenario, name: str) -> int:
    """The timeout of watchdog device ``name`` (catalog boot effect arm-hw-watchdog:NAME):
    the driver's ``heartbeat`` module parameter (``i6300esb.heartbeat``), else its default.
    The watchdog daemon's own WDIOC_SETTIMEOUT would override it; the lab gives both the
    same value (lab/templates/init.sh)."""
    return scn.int_param(f"{name}.heartbeat", HW_WATCHDOG_DEFAULT_S.get(name, 30))


def reservation_mib(scn: Scenario) -> int | None:
    """The ``crashkernel=`` reservation in MiB (rounded down), or None when not given."""
    raw = scn.param("crashkernel")
    return None if raw is None else scn.int_param("crashkernel", 0) >> 20


def crash_image_fits(scn: Scenario) -> bool:
    """Whether kexec can place the crash image in the reservation: kexec-tools puts the
    kernel (a bzImage needs its setup header's init_size), the initramfs, purgatory and
    the ELF core header inside the crashkernel= region or fails ("Could not find a free
    area of memory", kexec/kexec.c locate_hole), and kexec_load() is never called
    (kernel/kexec.c; kexec_crash_loaded() stays false). capture_needs_mib[0] is that
    footprint (measured per kernel: lab/reservation.py)."""
    got = reservation_mib(scn)
    return got is None or got >= scn.capture_needs_mib[0]


def capture_memory_short(scn: Scenario) -> bool:
    """Whether the capture kernel runs out of memory in its reservation before its dump
    tool: it boots in the crashkernel= region only (kernel/crash_core.c; the first kernel's
    other memory is the vmcore), its own image and early allocations are reserved first,
    then unpacking the initramfs and starting /init take page cache and slab, and when
    nothing is left the OOM killer finds no process to kill and panics "System is
    deadlocked on memory" (mm/oom_kill.c out_of_memory(), 6.1). capture_needs_mib[1] is
    the smallest reservation it boots in (measured per kernel: lab/reservation.py)."""
    got = reservation_mib(scn)
    return got is not None and got < scn.capture_needs_mib[1]


def boot_capture_kernel(run: Run) -> None:
    """machine_kexec() has jumped: find what the capture kernel meets, then end the path."""
    m = run.machine
    handover = m.now_ms
    m.handover_ms = handover
    run.emit("machine_kexec", "step", "jump to the crash kernel (crash point)",
             "arch/*/kernel/machine_kexec.c machine_kexec")
    writers: list[str] = []
    for dev in m.devices.values():
        if dev.dma_active:
            writers.append(f"{dev.name} DMA still running")
        elif dev.name.startswith("kvm-pv-cpu"):
            writers.append(f"host writes {dev.name} (steal time / PV EOI still enabled)")
    for c in m.other_cpus():
        # A CPU no stop reached keeps executing the old kernel after the handover, with
        # interrupts on or off (arm64's IPI stop cannot reach one spinning with interrupts
        # masked: seeds 001, 004; arch/arm64/kernel/smp.c, 6.1): what it writes lands in
        # the memory /proc/vmcore exposes (the lab: the probe's deaf CPU keeps writing
        # its page).
        if c.mode is CpuMode.RUNNING:
            writers.append(f"CPU {c.id} still executing the old kernel")
        elif c.mode is CpuMode.SPINNING_IRQS_OFF:
            writers.append(f"CPU {c.id} still executing the old kernel (interrupts off)")
    m.memory_writes_after_crash.extend(writers)
    m.capture_booted = True
    boot_done = handover + CAPTURE_BOOT_MS
    notes = [f"memory changing under the dump: {', '.join(writers)}" if writers
             else "memory frozen"]
    if capture_memory_short(run.scenario):
        m.capture_booted = False
        run.emit("capture-kernel", "capture",
                 f"capture kernel out of memory in crashkernel={reservation_mib(run.scenario)}M "
                 f"(it needs {run.scenario.capture_needs_mib[1]}M): OOM, \"System is "
                 "deadlocked on memory\"", "mm/oom_kill.c out_of_memory (6.1)")
        raise run.end("capture-failed", "capture kernel ran out of memory in its reservation")
    if "snp-iommu" in m.devices:
        m.capture_booted = False
        run.emit("capture-kernel", "capture", "IOMMU still owned by SNP firmware: capture kernel "
                 "IOMMU init fails", "drivers/iommu/amd/init.c (SEV-SNP host) [I]")
        raise run.end("capture-failed", "capture kernel could not initialise the IOMMU")
    m.dump_target_reachable, ready = _target_reachable(run, boot_done, notes)
    done = ready + run.scenario.dump_copy_ms
    fired = _watchdog_fires(run, handover, done)
    if fired:
        m.vmcore = None
        run.emit("capture-kernel", "capture", f"{fired} fired during the dump: machine reset, "
                 "vmcore lost", "watchdog hardware")
        raise run.end("watchdog-reset", fired)
    if m.dump_target_reachable:
        m.vmcore = {
            "by": "kdump",
            "cpus_saved": [c.id for c in m.cpus if c.regs_saved],
            "writes_after_crash": list(m.memory_writes_after_crash),
        }
        notes.append(f"vmcore written to {run.scenario.effective_dump_target}")
    else:
        notes.append(f"dump target {run.scenario.effective_dump_target} unreachable: no vmcore")
    run.emit("capture-kernel", "capture", "; ".join(notes), "kdump capture kernel (makedumpfile)")
    raise run.end("capture-kernel", "handed over to the crash kernel")


def _target_reachable(run: Run, boot_done: int, notes: list[str]) -> tuple[bool, int]:
    """Whether the capture kernel can use its dump device, and when it is ready to write.
    A VMbus disk needs a VMbus the host has let go of: the capture kernel's
    vmbus_connect() (INITIATE_CONTACT) only works once the host finished the old
    kernel's CHANNELMSG_UNLOAD (seed 001, Vitaly Kuznetsov: the clean-up is needed so the
    kdump kernel can connect again).

    When the capture kernel itself posted the UNLOAD (seed 001, Mark Rutland: reset the
    state in the kdump kernel before its first hypercall; the `capture_vmbus_reset`
    hook), it waits for the host as vmbus_wait_for_unload() does (drivers/hv/
    channel_mgmt.c, at most 100 s) and connects only after that wait."""
    m = run.machine
    scn = run.scenario
    defer = run.hooks.get("capture_vmbus_reset")
    if scn.hypervisor == "hyperv" and defer is not None:
        defer(run)
    if scn.effective_dump_target != "vmbus-storage":
        return True, boot_done
    if m.vmbus is VmbusState.ABSENT:
        notes.append("no VMbus")
        return False, boot_done
    done_at = m.host.vmbus_unload_done_at
    if done_at is None:
        notes.append("host still thinks the old VMbus connection is live: vmbus_connect fails")
        return False, boot_done
    connect_at = boot_done
    posted = m.host.vmbus_unload_posted_at
    if posted is not None and m.handover_ms is not None and posted >= m.handover_ms:
        connect_at = max(boot_done, min(done_at, posted + VMBUS_UNLOAD_TIMEOUT_MS))
    if done_at > connect_at:
        notes.append(f"host finished the UNLOAD at {done_at} ms, after the capture kernel "
                     f"tried to connect at {connect_at} ms: vmbus_connect fails")
        return False, connect_at
    notes.append("VMbus reconnected, storage reachable")
    return True, connect_at


def _watchdog_fires(run: Run, handover: int, done: int) -> str:
    """A watchdog that is still armed expires during the dump and resets the machine."""
    m = run.machine
    armed = [c.id for c in m.cpus if c.watchdog_armed]
    if armed and handover + OCTEON_WDT_MS < done:
        return f"Octeon CIU watchdog of CPUs {armed}"
    if m.bmc_watchdog_timeout_s is not None:
        expiry = m.bmc_watchdog_pet_ms + m.bmc_watchdog_timeout_s * 1000
        if expiry < done:
            return f"BMC (IPMI) watchdog ({m.bmc_watchdog_timeout_s} s)"
    for name, timeout_s in sorted(m.hw_watchdogs.items()):
        # kept alive by userspace up to the panic, then by nothing (state.py hw_watchdogs)
        if timeout_s * 1000 < done:
            return f"{name} watchdog ({timeout_s} s)"
    return ""
