"""Executing a callback: check what it needs against the machine, then do what it does.

Each effect handler models one kernel function and cites it. A need that the
machine cannot meet changes what happens mechanically: a spin lock held by a CPU
that will never run again hangs the panic CPU; a trylock skips the work; a VMbus
that is gone loses the message; an IPI to a deaf CPU waits forever.
"""

from __future__ import annotations

from collections.abc import Callable

from panicpath.model.callback import NOTIFY_DONE, NOTIFY_STOP, Callback, Effect, Need
from panicpath.model.run import HANG_MS, Run
from panicpath.model.state import CpuMode, VmbusState

VMBUS_UNLOAD_TIMEOUT_MS = 100_000
"""drivers/hv/channel_mgmt.c vmbus_wait_for_unload(): UNLOAD_WAIT_MS = 100 s (6.1)."""
LOCK_RELEASE_MS = 1
"""A lock held by a CPU that is still running is released shortly (it finishes its critical section)."""
IPMI_PANIC_WDT_TIMEOUT_S = 255
"""drivers/char/ipmi/ipmi_watchdog.c panic_wdt_timeout default (6.1)."""

RISKY_NEEDS = frozenset({"lock", "trylock", "mutex", "ipi", "host", "vmbus"})
RISKY_EFFECTS = frozenset(
    {"spin", "hang", "vmbus-unload", "hypercall", "mmio", "alloc", "fb-update", "ipmi-panic",
     "firmware-dump", "reboot", "hv-report-panic", "hv-kmsg-dump", "snp-iommu-shutdown"}
)


class NeedUnmet(Exception):
    """The callback cannot do its work; the reason goes to the trace."""


class Skipped(NeedUnmet):
    """The callback chose not to do its work (its own condition, not a failure)."""


def _holder_runs(run: Run, holder: int) -> bool:
    """A lock holder releases its lock only if it still executes with interrupts on."""
    return run.machine.cpus[holder].mode is CpuMode.RUNNING


def check_need(run: Run, cb: Callback, need: Need) -> None:
    """Meet one need or raise NeedUnmet / end the path (hang)."""
    m = run.machine
    if need.kind == "vmbus":
        if m.vmbus is not VmbusState.CONNECTED:
            raise NeedUnmet(f"needs the VMbus connection, which is {m.vmbus.value}")
    elif need.kind in ("lock", "trylock", "mutex"):
        holder = m.locks.get(need.arg)
        if holder is None or holder == m.panic_cpu:
            return
        if need.kind == "trylock":
            # spin_trylock() fails at once: the callback skips its work (pvpanic_send_event,
            # hvfb_on_panic's hv_ringbuffer_spinlock_busy, pstore_dump for PANIC); retried
            # for wait_ms, it fails after that long (the holder here never releases).
            if need.wait_ms:
                run.wait(need.wait_ms)
                raise NeedUnmet(f"spin_trylock({need.arg}) failed for {need.wait_ms} ms: "
                                f"held by CPU {holder}")
            raise NeedUnmet(f"spin_trylock({need.arg}) failed: held by CPU {holder}")
        if _holder_runs(run, holder):
            run.wait(LOCK_RELEASE_MS)
            m.locks[need.arg] = None
            return
        what = "spin_lock" if need.kind == "lock" else "mutex_lock (sleeps in atomic context)"
        run.wait(HANG_MS)
        run.emit(cb.name, "hang", f"{what}({need.arg}) held by CPU {holder}, which is "
                 f"{m.cpus[holder].mode.value}: never released", cb.source)
        raise run.end("hang", f"{cb.name}: deadlock on {need.arg}")
    elif need.kind == "ipi":
        # smp_call_function_many(wait=1) (kernel/smp.c) skips offline CPUs and waits in
        # csd_lock_wait() for every online one to run the function.
        for c in m.other_cpus():
            if c.online and c.mode is not CpuMode.RUNNING:
                run.wait(HANG_MS)
                run.emit(cb.name, "hang", f"smp_call_function waits forever for CPU {c.id} "
                         f"({c.mode.value}, still online)", cb.source)
                raise run.end("hang", f"{cb.name}: IPI to CPU {c.id} never answered")
    elif need.kind == "host":
        run.wait(m.host.latency_ms)
    elif need.kind == "other-cpus-online":
        return
    elif need.kind == "no-crash-kernel" and m.crash_image_loaded:
        # `if (!kexec_crash_loaded()) vmbus_initiate_unload(true);` (seed 004, patch 16 as
        # posted; kernel/kexec_core.c kexec_crash_loaded()).
        raise Skipped("kexec_crash_loaded(): a crash kernel is loaded, nothing done")


def _vmbus_initiate_unload(run: Run, cb: Callback) -> str:
    """drivers/hv/channel_mgmt.c vmbus_initiate_unload(crash=true), 6.1 and mainline:
    only the first caller works (xchg of conn_state to DISCONNECTED); it posts
    CHANNELMSG_UNLOAD and, in crash mode, vmbus_wait_for_unload() polls with
    mdelay(10) for at most 100 s, then continues even if the host never answered."""
    m = run.machine
    if m.vmbus is not VmbusState.CONNECTED:
        return f"VMbus already {m.vmbus.value}: nothing to do"
    m.vmbus = VmbusState.DISCONNECTED
    m.host.vmbus_unload_posted_at = m.now_ms
    m.host.vmbus_unload_done_at = m.now_ms + m.host.latency_ms
    if m.host.latency_ms <= VMBUS_UNLOAD_TIMEOUT_MS:
        run.wait(m.host.latency_ms)
        return f"CHANNELMSG_UNLOAD answered after {m.host.latency_ms} ms"
    run.wait(VMBUS_UNLOAD_TIMEOUT_MS)
    run.printk("hv_vmbus: Continuing even though VMBus UNLOAD did not complete")
    return "host did not answer UNLOAD within 100 s; continuing with the unload unfinished"


def _hv_report_panic(run: Run, cb: Callback) -> str:
    """drivers/hv/hv_common.c hv_die_panic_notify_crash -> hyperv_report_panic (6.1): report
    through the crash MSRs only when the kmsg dumper will not (hyperv_report_reg():
    !sysctl_record_panic_msg || !hv_panic_page), and only once (static panic_reported,
    arch/x86/hyperv/hv_init.c)."""
    m = run.machine
    if run.scenario.int_param("hyperv_record_panic_msg", 1) and m_has_hv_page(run):
        return "skipped: hv_kmsg_dump will report with the log (hyperv_report_reg() false)"
    if m.panic_reported_once:
        return "skipped: already reported once"
    m.panic_reported_once = True
    m.host.reports.append("hyperv-crash-msr")
    return "crash MSRs P0..P4 written, CRASH_CTL=CRASH_NOTIFY: host informed"


def m_has_hv_page(run: Run) -> bool:
    """hv_kmsg_dump_register() allocated hv_panic_page at boot (drivers/hv/hv_common.c)."""
    return any(e.kind == "hv-kmsg-dump" for cb in run.dumpers for e in cb.effects)


def _hv_kmsg_dump(run: Run, cb: Callback, reason: str) -> str:
    """drivers/hv/hv_common.c hv_kmsg_dump (6.1): only for KMSG_DUMP_PANIC and when
    kernel.hyperv_record_panic_msg is set; copies the log tail into hv_panic_page and
    writes CRASH_CTL with CRASH_NOTIFY_MSG."""
    m = run.machine
    if reason != "PANIC":
        return f"ignored: reason {reason}"
    if not run.scenario.int_param("hyperv_record_panic_msg", 1):
        return "ignored: hyperv_record_panic_msg=0"
    m.host.reports.append("hyperv-kmsg-page")
    m.persisted_logs.append("hyperv-host")
    return "log page handed to the host (CRASH_NOTIFY_MSG): host informed, log kept"


def _fb_update(run: Run, cb: Callback) -> str:
    """drivers/video/fbdev/hyperv_fb.c hvfb_on_panic (6.1): switch to synchronous mode
    and send a synthvid update over the VMbus channel (no reply awaited)."""
    m = run.machine
    if m.vmbus is not VmbusState.CONNECTED:
        raise NeedUnmet(f"synthvid update over a VMbus that is {m.vmbus.value}: lost")
    m.host.fb_updates.append("panic screen")
    return "framebuffer update sent to the host"


def _stop_dma(run: Run, cb: Callback, effect: Effect) -> str:
    """Stop a device's DMA (e.g. drivers/misc/bcm-vk/bcm_vk_dev.c bcm_vk_on_panic writes
    VK_BAR0_RESET_DB_HARD: the card stops DMA into host memory, seed 002)."""
    dev = run.machine.devices.get(effect.arg)
    if dev is None:
        return f"no {effect.arg} device"
    was = dev.dma_active
    dev.dma_active = False
    dev.dma_stopped_at = run.machine.now_ms
    return f"{effect.arg}: reset doorbell written" + ("; DMA stopped" if was else "")


def _pvpanic(run: Run, cb: Callback) -> str:
    """drivers/misc/pvpanic/pvpanic.c pvpanic_panic_notify (6.1): event CRASH_LOADED
    (bit 1) if kexec_crash_loaded(), else PANICKED (bit 0); written with iowrite8.
    QEMU (hw/misc/pvpanic.c, softmmu/runstate.c) emits GUEST_CRASHLOADED and runs on,
    or GUEST_PANICKED and applies `-action panic=` (default: power off)."""
    m = run.machine
    event = "CRASH_LOADED" if m.crash_image_loaded else "PANICKED"
    m.pvpanic_events.append(event)
    m.host.reports.append(f"pvpanic:{event}")
    if event == "PANICKED" and run.scenario.host_panic_action in ("shutdown", "pause"):
        action = run.scenario.host_panic_action
        run.emit(cb.name, "notifier", f"pvpanic {event}: host applies panic action {action}",
                 cb.source)
        raise run.end("host-stopped", f"QEMU stopped the guest at GUEST_PANICKED ({action})")
    return f"pvpanic event {event} written; host informed"


def _kmsg_dump_now(run: Run, cb: Callback) -> str:
    """arch/powerpc/kernel/traps.c panic_flush_kmsg_end() (v5.19, Piccoli's untangle
    of the powerpc panic notifiers; 6.1.192), called by pseries_panic() before
    rtas_os_term(): kmsg_dump(KMSG_DUMP_PANIC) from inside the last panic notifier, so the
    dumpers run before the hypervisor may end the partition (and panic() runs them again
    after the chain), then console_flush_on_panic(CONSOLE_FLUSH_PENDING): what printk
    deferred reaches the console. Seen in the lab on pseries 6.1: the probe's dumper prints
    twice, and the notifiers' lines arrive together after GUEST_PANICKED."""
    from panicpath.model.steps import console_flush_on_panic, kmsg_dump_panic

    kmsg_dump_panic(run)
    console_flush_on_panic(run)
    return "kmsg_dump(KMSG_DUMP_PANIC) and console_flush_on_panic() from the notifier"


def _os_term(run: Run, cb: Callback) -> str:
    """arch/powerpc/platforms/pseries/setup.c pseries_panic -> rtas_os_term (6.1): with the
    ibm,os-term and ibm,extended-os-term RTAS services the hypervisor is told the partition
    panicked. QEMU's pseries provides both (hw/ppc/spapr_rtas.c rtas_ibm_os_term ->
    qemu_system_guest_panicked): GUEST_PANICKED, whatever kexec_crash_loaded() says, then
    `-action panic=` (default: power off). Recorded with pvpanic's events: the host sees the
    same GUEST_PANICKED."""
    m = run.machine
    m.pvpanic_events.append("PANICKED")
    m.host.reports.append("os-term:PANICKED")
    if run.scenario.host_panic_action in ("shutdown", "pause"):
        action = run.scenario.host_panic_action
        run.emit(cb.name, "notifier", f"ibm,os-term: host applies panic action {action}",
                 cb.source)
        raise run.end("host-stopped", f"QEMU stopped the guest at GUEST_PANICKED ({action})")
    return "ibm,os-term: host informed"


def _persist_log(run: Run, cb: Callback, reason: str, effect: Effect) -> str:
    """fs/pstore/platform.c pstore_dump (6.1): for PANIC (and in NMI context) only a
    trylock of psinfo->buf_lock; the backend (ramoops: fs/pstore/ram.c) stores the
    log tail in its reserved region, which survives into the capture kernel."""
    m = run.machine
    holder = m.locks.get("pstore-buf")
    if holder is not None and holder != m.panic_cpu:
        raise NeedUnmet("pstore: dump skipped in Panic path because of concurrent dump")
    backend = effect.arg or cb.name
    m.persisted_logs.append(backend)
    return f"log stored in {backend} (reason {reason})"


def _stop_watchdogs_online(run: Run, cb: Callback) -> str:
    """arch/mips/cavium-octeon/setup.c octeon_generic_shutdown / octeon_crash_smp_send_stop:
    zero the CIU watchdog CSR of each CPU in cpu_online_mask. An offlined CPU is
    skipped, so its watchdog stays armed (seed 003, Problem 1)."""
    stopped = []
    for c in run.machine.cpus:
        if c.online and c.watchdog_armed:
            c.watchdog_armed = False
            stopped.append(c.id)
    left = [c.id for c in run.machine.cpus if c.watchdog_armed]
    msg = f"watchdogs stopped on CPUs {stopped}"
    return msg + (f"; still armed on offline CPUs {left}" if left else "")


def _ipmi_panic(run: Run, cb: Callback) -> str:
    """drivers/char/ipmi/ipmi_msghandler.c panic_event (6.1): once; trylock the interface
    locks (reinitialise the lists when busy), run-to-completion mode, call each user's
    panic handler (ipmi_watchdog: timeout := panic_wdt_timeout, 255 s), then send the
    SEL panic event if panic_op is event/string."""
    m = run.machine
    notes = []
    if m.bmc_watchdog_timeout_s is not None:
        m.bmc_watchdog_timeout_s = IPMI_PANIC_WDT_TIMEOUT_S
        m.bmc_watchdog_pet_ms = m.now_ms
        notes.append("BMC watchdog set to 255 s")
    op = run.scenario.param("ipmi_msghandler.panic_op", "none")
    if op in ("event", "string"):
        m.host.sel_events.append("panic")
        m.host.reports.append("ipmi-sel")
        notes.append("panic event in the BMC's SEL")
    return "; ".join(notes) or "no BMC watchdog, panic_op=none: nothing sent"


def _firmware_dump(run: Run, cb: Callback) -> str:
    """arch/powerpc/kernel/fadump.c crash_fadump via ppc_panic_fadump_handler (6.1): the
    firmware captures memory and all CPUs' state and reboots; does not return."""
    m = run.machine
    m.vmcore = {"by": "firmware (fadump)", "cpus_saved": [c.id for c in m.cpus],
                "writes_after_crash": list(m.memory_writes_after_crash)}
    run.emit(cb.name, "notifier", "crash_fadump: firmware-assisted dump, no return", cb.source)
    raise run.end("firmware-dump", "fadump captured the dump")


def _kvm_pv_off(run: Run, cb: Callback) -> str:
    """arch/x86/kernel/kvm.c kvm_crash_shutdown -> kvm_guest_cpu_offline(true) (6.1): on
    the crashing CPU, disable steal time, PV EOI, async PF and kvmclock, so the host
    stops writing into the old kernel's memory."""
    run.machine.devices.pop(f"kvm-pv-cpu{run.machine.panic_cpu}", None)
    return "KVM PV features off on the crashing CPU"


def _snp_shutdown(run: Run, cb: Callback) -> str:
    """drivers/crypto/ccp/sev-dev.c SNP panic notifier (mainline, [I] on release): SNP
    shutdown with IOMMU disable so the kdump kernel can program the IOMMU."""
    run.machine.devices.pop("snp-iommu", None)
    return "SNP_SHUTDOWN_EX: IOMMU released for the capture kernel"


def _xen_panic(run: Run, cb: Callback) -> str:
    """arch/x86/xen/enlighten.c xen_panic_event (6.1.192): only without a crash kernel:
    reboot_reason = SHUTDOWN_crash; with panic_timeout == 0 (or the legacy crash mode)
    xen_reboot(SHUTDOWN_crash) hands the domain to the hypervisor, which records the crash
    and applies the domain's on_crash action."""
    m = run.machine
    if m.crash_image_loaded:
        return "crash kernel loaded: nothing done"
    m.host.reports.append("xen:SHUTDOWN_crash")
    if run.scenario.int_param("panic", 0) == 0:
        run.emit(cb.name, "notifier", "xen_reboot(SHUTDOWN_crash): the hypervisor takes over",
                 cb.source)
        raise run.end("host-stopped", "Xen SHUTDOWN_crash")
    return "reboot_reason = SHUTDOWN_crash; the hypervisor learns of the crash at the restart"


def perform(run: Run, cb: Callback, reason: str = "PANIC") -> int:
    """Run callback `cb` on the panic CPU; returns its notifier return value.

    Needs are checked in declaration order, then effects run in order. An unmet
    need stops the callback (its remaining effects are lost) and is recorded.
    """
    m = run.machine
    kind = kind_of(cb)
    run.ran_callbacks.append(cb.name)
    if not m.kdump_entered:
        m.callbacks_before_kdump.append(cb.name)
        m.risky_ops_before_kdump.extend(f"{cb.name}:{r}" for r in _risk_of(cb))
    if cb.name in run.hanging:
        run.wait(HANG_MS)
        run.emit(cb.name, "hang", "fault hanging-callback: never returns", cb.source)
        raise run.end("hang", f"{cb.name} never returned")
    results: list[str] = []
    ret = NOTIFY_DONE
    try:
        for need in cb.needs:
            check_need(run, cb, need)
        for eff in cb.effects:
            ret = _do_effect(run, cb, eff, reason, results, ret)
    except Skipped as skipped:
        results.append(f"skipped: {skipped}")
    except NeedUnmet as unmet:
        run.failed_callbacks.append(cb.name)
        results.append(f"FAILED: {unmet}")
    run.emit(cb.name, kind, "; ".join(results) or "ran", cb.source)
    return ret


def _risk_of(cb: Callback) -> list[str]:
    out = [str(n) for n in cb.needs if n.kind in RISKY_NEEDS]
    out += [str(e) for e in cb.effects if e.kind in RISKY_EFFECTS]
    out += list(cb.risky)
    return out


_SIMPLE: dict[str, Callable[[Run, Callback], str]] = {
    "vmbus-unload": _vmbus_initiate_unload,
    "hv-report-panic": _hv_report_panic,
    "fb-update": _fb_update,
    "pvpanic": _pvpanic,
    "stop-watchdogs-online": _stop_watchdogs_online,
    "ipmi-panic": _ipmi_panic,
    "firmware-dump": _firmware_dump,
    "kvm-pv-off": _kvm_pv_off,
    "snp-iommu-shutdown": _snp_shutdown,
    "xen-panic": _xen_panic,
    "os-term": _os_term,
    "kmsg-dump": _kmsg_dump_now,
}


def _do_effect(run: Run, cb: Callback, eff: Effect, reason: str, results: list[str],
               ret: int) -> int:
    k = eff.kind
    if k in _SIMPLE:
        results.append(_SIMPLE[k](run, cb))
    elif k == "print":
        run.printk(eff.arg or cb.name)
        results.append(f"printk: {eff.arg or cb.name}")
    elif k == "spin":
        run.wait(int(eff.arg))
        results.append(f"busy-waits {eff.arg} ms")
    elif k == "hang":
        run.wait(HANG_MS)
        run.emit(cb.name, "hang", "never returns", cb.source)
        raise run.end("hang", f"{cb.name} never returned")
    elif k == "notify-stop":
        results.append("returns NOTIFY_STOP: the rest of the chain is skipped")
        return NOTIFY_STOP
    elif k == "hv-kmsg-dump":
        results.append(_hv_kmsg_dump(run, cb, reason))
    elif k == "stop-dma":
        results.append(_stop_dma(run, cb, eff))
    elif k == "persist-log":
        results.append(_persist_log(run, cb, reason, eff))
    elif k == "hv-stimer-cleanup":
        results.append("stimer and SynIC of this CPU cleaned up")
    elif k == "reboot":
        run.emit(cb.name, kind_of(cb), "reboots the machine", cb.source)
        raise run.end("reboot", f"{cb.name} rebooted")
    else:
        results.append(k)
    return ret


def kind_of(cb: Callback) -> str:
    """Trace kind for a callback's list."""
    return {"panic_notifier_list": "notifier", "kmsg_dumper": "kmsg_dumper"}.get(cb.list, cb.list)
