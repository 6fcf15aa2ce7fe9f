"""Compile one configuration of a checker question into a step function over plain tuples.

The state of `panicpath.check.fast` is a flat tuple of ints, the same small global state as
the Promela export (`templates/panic.pml.j2`): CPU modes, per-CPU bit masks (online, local
APIC, NMI blocked, registers saved, watchdog armed), the one lock a stopped CPU may hold,
the VMbus connection and the host's latency, the devices (present / doing DMA, as bit
masks), the flags of panic(), the clock, how the path ended and what the capture kernel
found, plus a program counter into the flattened step list. Everything that cannot change
after boot (architecture, crash kernel loaded, the registered lists, the static facts of
the callbacks, the boot parameters) lives in a per-configuration table, `Cfg`, not in the
state.

The mechanics below are the Promela template's ``inline`` definitions restated over that
state, each citing the kernel source it models (the same citations as the template). They
are derived from the same *inputs* as `promela.promela` -- the policy's program, the
drivers' registered callbacks (lists, priorities, registration order, needs, effects, boot
effects), the fault alphabet, the architecture -- never from running `engine.execute`.

Step granularity: one step per op of the policy's program, except that
`notifier_chain` and `kmsg_dump` take one step per callback on the list (plus the chain's
entry) and `__crash_kexec` takes two (up to machine_kexec, then the capture kernel's boot).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from panicpath.arch import ARCHES
from panicpath.check.promela import (
    FEATURES,
    NO_OP_EFFECTS,
    PROPERTY_EXPR,
    REPORT_EFFECTS,
    VICTIM,
    ExportError,
    device_names,
    hanging_notifier,
    locks_of,
    promela_alphabet,
    registered_callbacks,
    subset,
)
from panicpath.check.search import Question
from panicpath.engine import select_drivers
from panicpath.faults import HANGING_NOTIFIER, SLOW_HOST_MS
from panicpath.model.callback import EFFECT_KINDS, KMSG_DUMP_REASONS, LISTS, Callback
from panicpath.model.capture import capture_memory_short, crash_image_fits, hw_watchdog_timeout_s
from panicpath.model.scenario import Scenario
from panicpath.model.steps import PANIC_MSG
from panicpath.policies.base import Policy

# ---------------------------------------------------------------- state layout
(PC, USED, HANGV, HANG_CB, POST_SNAP, ONLINE, APIC, NMIB, REGS, WDT, HELD, VMBUS,
 LATENCY, UNLOAD_POSTED, UNLOAD_DONE, REPORTS, REPORTED_ONCE, FB_UPDATED, PERSISTED,
 BMC_TIMEOUT, BMC_PET, DEV_PRESENT, DEV_DMA, LIST_CORRUPT, KEXEC_LOCK,
 STOP_DONE, SHOOTDOWN_DONE, CONSOLE_DEFERRED, LOG_PANIC, CONSOLE_PANIC, NOW, HANDOVER, END_MS,
 END_KIND, ENDED, MEM_WRITES, VMCORE, VMCORE_WRITES, VMCORE_SAVED, CAPTURE_BOOTED,
 TARGET_KNOWN, TARGET_OK, CB_STOP, MODE) = range(44)
"""Indices into the state tuple; MODE + c is CPU c's mode. PC is -1 while the adversary
applies faults (USED: a bit per fault kind applied, as the template's u_* flags),
then 0.. into the configuration's step list. HANGV is 1 when the extra hanging notifier
is registered (the step list with it on the chain is used), HANG_CB the callback made to
hang (-1: none), HELD the lock a stopped CPU holds (-1: none; the holder is CPU VICTIM)."""

FIELD_NAMES = ("pc", "used", "hang_notifier", "hanging", "post_snap", "online",
               "apic", "nmi_blocked", "regs_saved", "wdt", "held_lock", "vmbus", "latency",
               "unload_posted", "unload_done", "reports", "reported_once", "fb_updated",
               "persisted", "bmc_timeout", "bmc_pet", "dev_present", "dev_dma", "list_corrupt",
               "kexec_lock", "stop_done", "shootdown_done", "console_deferred",
               "log_panic", "console_panic", "now", "handover", "end_ms", "end_kind", "ended",
               "mem_writes", "vmcore", "vmcore_writes", "vmcore_saved", "capture_booted",
               "target_known", "target_ok", "cb_stop")
assert len(FIELD_NAMES) == MODE

NONE = -1
# enum CpuMode (panicpath/model/state.py), as the template's M_*
M_RUNNING, M_SPINNING, M_SELF_STOPPED, M_STOPPED, M_CRASH_STOPPED, M_PANICKING = range(6)
# drivers/hv/connection.c vmbus_connection.conn_state
VB_ABSENT, VB_CONNECTED, VB_DISCONNECTED = range(3)
A_X86, A_ARM64, A_PPC, A_MIPS, A_S390 = range(5)
ARCH_CODE = {"x86_64": A_X86, "arm64": A_ARM64, "powerpc": A_PPC, "mips-octeon": A_MIPS,
             "s390": A_S390}
# include/linux/kmsg_dump.h enum kmsg_dump_reason
K_UNDEF, K_PANIC, K_OOPS, K_EMERG = 0, 1, 2, 3
K_MAX = 5
# how the path ends
(E_NONE, E_CAPTURE, E_FIRMWARE, E_REBOOT, E_HALT, E_HANG, E_HOST_STOPPED, E_WDT_RESET,
 E_CAPTURE_FAILED) = range(9)

VMBUS_UNLOAD_TIMEOUT = 100_000  # drivers/hv/channel_mgmt.c vmbus_wait_for_unload UNLOAD_WAIT_MS
LOCK_RELEASE = 1                # a running holder leaves its critical section
X86_REBOOT_IPI_WAIT = 1000      # arch/x86/kernel/smp.c native_stop_other_cpus
X86_STOP_NMI_WAIT = 10          # arch/x86/kernel/smp.c native_stop_other_cpus NMI fallback
X86_SHOOTDOWN_WAIT = 1000       # arch/x86/kernel/reboot.c nmi_shootdown_cpus
ARM64_STOP_WAIT = 1000          # arch/arm64/kernel/smp.c smp_send_stop / crash_smp_send_stop
MIPS_CRASH_IPI_WAIT = 10_000    # arch/mips/kernel/crash.c crash_kexec_prepare_cpus
PPC_CRASH_IPI_WAIT = 10_000     # arch/powerpc/kexec/crash.c IPI_TIMEOUT
PPC_CRASH_HANDLER_MAX = 3       # arch/powerpc/kexec/crash.c CRASH_HANDLER_MAX
CAPTURE_BOOT = 5000             # capture kernel boot to its dump tool [I]
DUMP_COPY = 20_000              # makedumpfile copy [I]
OCTEON_WDT = 10_000             # drivers/watchdog/octeon-wdt-main.c expiry [I]
IPMI_PANIC_WDT_S = 255          # drivers/char/ipmi/ipmi_watchdog.c panic_wdt_timeout
DEFAULT_LATENCY = 5             # panicpath.model.state.Host

State = tuple[int, ...]
Op = Callable[[list[int], "Cfg", str, int], bool]
"""A need or effect: (state, config, argument, kmsg reason) -> whether the callback goes on."""
StepFn = Callable[[list[int], "Cfg", int], None]
"""One step of panic(): (state, config, argument: the callback for a list walk)."""
ProgramStep = tuple[str, StepFn, int, int, int]


@dataclass(eq=False)
class Cfg:
    """What one configuration fixes at boot (the template's constants and the registration
    facts), and its compiled step lists."""

    index: int
    scenario: Scenario
    ncpu: int
    arch: int
    version: int
    crash_loaded: bool
    crash_wanted: bool
    post: bool
    target_vmbus: bool
    has_fadump: bool = False
    has_hv_page: bool = False
    host_channel: bool = False
    fb_channel: bool = False
    log_sink: bool = False
    watchdogs_at_boot: bool = False
    hw_wdt_ms: int = NONE
    """The earliest expiry of a watchdog device kept alive up to the panic (engine:
    Machine.hw_watchdogs); a constant of the configuration: nothing in the path changes it."""
    dump_copy: int = DUMP_COPY
    dma_capable: int = 0
    pv_mask: int = 0
    snp_bit: int = 0
    capture_oom: bool = False
    pcie_bit: int = 0
    has_css: bool = False
    has_mips_css: bool = False
    has_ppc_css: bool = False
    has_nmi_deferred: bool = False
    has_unblank_flush: bool = False
    panic_timeout: int = 0
    record_panic_msg: int = 1
    panic_op_event: bool = False
    always_kmsg_dump: int = 0
    host_stops: bool = False
    path_bound_ms: int = 60_000
    callbacks: list[Callback] = field(default_factory=list)
    bodies: list[list[tuple[Op, str]]] = field(default_factory=list)
    cb_maxr: list[int] = field(default_factory=list)
    chains: tuple[list[int], list[int]] = field(default_factory=lambda: ([], []))
    dumpers: list[int] = field(default_factory=list)
    cshut: list[int] = field(default_factory=list)
    wdt_stoppers: frozenset[int] = frozenset()
    locks: dict[str, int] = field(default_factory=dict)
    devices: dict[str, int] = field(default_factory=dict)
    faults: list[tuple[str, int, Callable[[list[int]], None]]] = field(default_factory=list)
    """The adversary's choices: (name, bit of its kind in USED, how it changes the state)."""
    programs: tuple[list[ProgramStep], list[ProgramStep]] = field(
        default_factory=lambda: ([], []))
    """The flattened step list without / with the extra hanging notifier (`_program`)."""
    root: State = ()

    @property
    def all_cpus(self) -> int:
        """The mask of every CPU."""
        return (1 << self.ncpu) - 1


# ---------------------------------------------------------------- helpers
def path_end(s: list[int], kind: int) -> None:
    """kernel/panic.c: the path ends (capture, firmware, reboot, halt, hang...): record how, once."""
    if not s[ENDED]:
        s[ENDED] = 1
        s[END_KIND] = kind
        s[END_MS] = s[HANDOVER] if s[HANDOVER] != NONE else s[NOW]


def printk_panic(s: list[int]) -> None:
    """kernel/printk/printk.c printk() of "Kernel panic - not syncing": in NMI context
    (printk_safe, v4.7+) only the buffer gets it until a console flush."""
    s[LOG_PANIC] = 1
    if not s[CONSOLE_DEFERRED]:
        s[CONSOLE_PANIC] = 1


def _halted(s: list[int], c: int) -> bool:
    """The template's HALTED(x): the CPU took a stop request (stop_this_cpu, or
    crash_nmi_callback / ipi_cpu_crash_stop after crash_save_cpu)."""
    m = s[MODE + c]
    return m in (M_STOPPED, M_CRASH_STOPPED)


def _answers_nmi(s: list[int], c: int) -> bool:
    """arch/base.py answers_nmi: local APIC on, NMIs not blocked, not panicking itself."""
    b = 1 << c
    return bool(s[APIC] & b) and not s[NMIB] & b and s[MODE + c] != M_PANICKING


# ---------------------------------------------------------------- needs
# A need not met stops the callback's remaining work (panicpath/model/effects.py check_need).
def need_vmbus(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """The callback talks to the host over VMbus: only while drivers/hv/connection.c
    vmbus_connection.conn_state is CONNECTED (not after vmbus_initiate_unload)."""
    return s[VMBUS] == VB_CONNECTED


def need_lock(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """spin_lock()/mutex_lock(): a holder still running releases it; one that was stopped never
    does and the panic CPU deadlocks."""
    if s[HELD] == k.locks[arg]:
        if s[MODE + VICTIM] == M_RUNNING:
            s[NOW] += LOCK_RELEASE
            s[HELD] = NONE
        else:
            path_end(s, E_HANG)
    return True


def need_trylock(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """spin_trylock() (pvpanic_send_event, hv_ringbuffer_spinlock_busy, pstore_dump): fails at
    once."""
    return s[HELD] != k.locks[arg]


def need_trylock_wait(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """A trylock retried for ``LOCK|MS`` (Need.wait_ms): a held lock costs MS, then fails."""
    lock, ms = arg.rsplit("|", 1)
    if s[HELD] == k.locks[lock]:
        s[NOW] += int(ms)
        return False
    return True


def need_ipi(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """kernel/smp.c smp_call_function_many(wait=1): csd_lock_wait() for every online CPU."""
    online = s[ONLINE]
    for c in range(1, k.ncpu):
        if online >> c & 1 and s[MODE + c] != M_RUNNING:
            path_end(s, E_HANG)
    return True


def need_host(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """A request that needs the host's answer (a hypercall or a synchronous VMbus message,
    e.g. drivers/hv/channel_mgmt.c vmbus_wait_for_unload): waits the host's latency."""
    s[NOW] += s[LATENCY]
    return True


def need_no_crash_kernel(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """`if (!kexec_crash_loaded())` (seed 004, patch 16 as posted)."""
    return not k.crash_loaded


# ---------------------------------------------------------------- effects
def eff_vmbus_unload(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """drivers/hv/channel_mgmt.c vmbus_initiate_unload(crash=true): first caller only; posts
    CHANNELMSG_UNLOAD; vmbus_wait_for_unload() polls for at most 100 s."""
    if s[VMBUS] == VB_CONNECTED:
        s[VMBUS] = VB_DISCONNECTED
        s[UNLOAD_POSTED] = s[NOW]
        s[UNLOAD_DONE] = s[NOW] + s[LATENCY]
        s[NOW] += s[LATENCY] if s[LATENCY] <= VMBUS_UNLOAD_TIMEOUT else VMBUS_UNLOAD_TIMEOUT
    return True


def eff_hv_report_panic(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """drivers/hv/hv_common.c hv_die_panic_notify_crash -> hyperv_report_panic: not when the
    kmsg dumper will report (hyperv_report_reg()), only once (static panic_reported)."""
    if not (k.record_panic_msg and k.has_hv_page) and not s[REPORTED_ONCE]:
        s[REPORTED_ONCE] = 1
        s[REPORTS] += 1
    return True


def eff_hv_kmsg_dump(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """drivers/hv/hv_common.c hv_kmsg_dump: KMSG_DUMP_PANIC only, with hyperv_record_panic_msg."""
    if reason == K_PANIC and k.record_panic_msg:
        s[REPORTS] += 1
        s[PERSISTED] = 1
    return True


def eff_fb_update(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """drivers/video/fbdev/hyperv_fb.c hvfb_on_panic: synthvid update over the VMbus channel."""
    if s[VMBUS] != VB_CONNECTED:
        return False
    s[FB_UPDATED] = 1
    return True


def eff_stop_dma(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """e.g. drivers/misc/bcm-vk/bcm_vk_dev.c bcm_vk_on_panic: reset doorbell, DMA stops."""
    b = 1 << k.devices[arg]
    if s[DEV_PRESENT] & b:
        s[DEV_DMA] &= ~b
    return True


def eff_pvpanic(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """drivers/misc/pvpanic/pvpanic.c pvpanic_panic_notify: CRASH_LOADED if
    kexec_crash_loaded(), else PANICKED, at which QEMU applies -action panic=
    (softmmu/runstate.c)."""
    s[REPORTS] += 1
    if not k.crash_loaded and k.host_stops:
        path_end(s, E_HOST_STOPPED)
    return True


def eff_os_term(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """effects.py _os_term: pseries rtas_os_term -> GUEST_PANICKED, at which QEMU applies
    -action panic= whether or not a crash kernel is loaded."""
    s[REPORTS] += 1
    if k.host_stops:
        path_end(s, E_HOST_STOPPED)
    return True


def eff_persist_log(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """fs/pstore/platform.c pstore_dump: only a trylock of psinfo->buf_lock on the panic path."""
    if s[HELD] == k.locks["pstore-buf"]:
        return False
    s[PERSISTED] = 1
    return True


def eff_stop_watchdogs_online(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """arch/mips/cavium-octeon/setup.c octeon_generic_shutdown / octeon_crash_smp_send_stop:
    zero the CIU watchdog of each CPU in cpu_online_mask."""
    s[WDT] &= ~s[ONLINE]
    return True


def eff_ipmi_panic(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """drivers/char/ipmi/ipmi_msghandler.c panic_event: ipmi_watchdog's panic handler sets
    panic_wdt_timeout (255 s); SEL event when panic_op is event/string."""
    if s[BMC_TIMEOUT] != NONE:
        s[BMC_TIMEOUT] = IPMI_PANIC_WDT_S
        s[BMC_PET] = s[NOW]
    if k.panic_op_event:
        s[REPORTS] += 1
    return True


def eff_firmware_dump(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """arch/powerpc/kernel/fadump.c crash_fadump: the firmware dumps memory and every CPU; no
    return."""
    s[VMCORE] = 1
    s[VMCORE_SAVED] = k.ncpu
    s[VMCORE_WRITES] = s[MEM_WRITES]
    path_end(s, E_FIRMWARE)
    return True


def eff_device_off(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """arch/x86/kernel/kvm.c kvm_crash_shutdown -> kvm_guest_cpu_offline(true): PV pages off;
    drivers/crypto/ccp/sev-dev.c SNP panic notifier: SNP_SHUTDOWN_EX releases the IOMMU."""
    s[DEV_PRESENT] &= ~(1 << k.devices[arg])
    return True


def eff_xen_panic(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """arch/x86/xen/enlighten.c xen_panic_event: only without a crash kernel; with
    panic_timeout 0 xen_reboot(SHUTDOWN_crash) hands the domain to the hypervisor."""
    if not k.crash_loaded:
        s[REPORTS] += 1
        if k.panic_timeout == 0:
            path_end(s, E_HOST_STOPPED)
    return True


def eff_spin(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """The callback busy-waits `arg` ms (mdelay(), include/linux/delay.h, in the driver)."""
    s[NOW] += int(arg)
    return True


def eff_hang(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """The callback never returns (seed 000, Piccoli (a))."""
    path_end(s, E_HANG)
    return True


def eff_reboot(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """The callback reboots the machine (kernel/reboot.c emergency_restart() from a
    callback)."""
    path_end(s, E_REBOOT)
    return True


def eff_notify_stop(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """The callback returns NOTIFY_STOP (include/linux/notifier.h): notifier_call_chain stops."""
    s[CB_STOP] = 1
    return True


def eff_print_panic(s: list[int], k: Cfg, arg: str, reason: int) -> bool:
    """printk() of a line holding the panic message (kernel/printk/printk.c)."""
    printk_panic(s)
    return True


EFFECTS: dict[str, Op] = {
    "vmbus-unload": eff_vmbus_unload, "hv-report-panic": eff_hv_report_panic,
    "hv-kmsg-dump": eff_hv_kmsg_dump, "fb-update": eff_fb_update, "pvpanic": eff_pvpanic,
    "os-term": eff_os_term,
    "stop-watchdogs-online": eff_stop_watchdogs_online, "ipmi-panic": eff_ipmi_panic,
    "firmware-dump": eff_firmware_dump, "xen-panic": eff_xen_panic, "hang": eff_hang,
    "reboot": eff_reboot, "notify-stop": eff_notify_stop, "spin": eff_spin,
    "stop-dma": eff_stop_dma, "persist-log": eff_persist_log, "kvm-pv-off": eff_device_off,
    "snp-iommu-shutdown": eff_device_off,
}
NEEDS: dict[str, Op] = {
    "vmbus": need_vmbus, "lock": need_lock, "mutex": need_lock, "trylock": need_trylock,
    "ipi": need_ipi, "host": need_host, "no-crash-kernel": need_no_crash_kernel,
}


def perform(s: list[int], k: Cfg, cur: int, reason: int) -> None:
    """Run callback `cur` on the panic CPU: a hanging-callback fault never returns; otherwise
    its needs in order, then its effects in order, until one fails or the path ends
    (panicpath/model/effects.py; template `perform`)."""
    if s[HANG_CB] == cur:
        path_end(s, E_HANG)
        return
    for op, arg in k.bodies[cur]:
        if not op(s, k, arg, reason) or s[ENDED]:
            return


def kmsg_dump(s: list[int], k: Cfg, why: int) -> None:
    """kernel/printk/printk.c kmsg_dump(reason): each dumper whose max_reason admits the reason
    (UNDEF means OOPS, or MAX with printk.always_kmsg_dump), in registration order."""
    for cur in k.dumpers:
        if s[ENDED]:
            return
        if why <= k.cb_maxr[cur]:
            perform(s, k, cur, why)


def run_crash_shutdown(s: list[int], k: Cfg, lim: int) -> None:
    """The arch's crash-shutdown hooks (x86 machine_ops.crash_shutdown, powerpc
    crash_shutdown_register, mips _machine_crash_shutdown), at most `lim` of them."""
    for cur in k.cshut[:lim]:
        if s[ENDED]:
            return
        perform(s, k, cur, K_PANIC)


# ---------------------------------------------------------------- architectures
def stop_cpu(s: list[int], x: int, save: bool, off: bool, apicoff: bool) -> None:
    """arch/{x86,arm64,mips,powerpc}/kernel: a CPU answers a stop request: crash_save_cpu if the
    handler does, leaves cpu_online_mask if it does, disables its local APIC on x86
    stop_this_cpu, halts."""
    b = 1 << x
    if save:
        s[REGS] |= b
        s[MODE + x] = M_CRASH_STOPPED
    else:
        s[MODE + x] = M_STOPPED
    if off:
        s[ONLINE] &= ~b
    if apicoff:
        s[APIC] &= ~b


def panic_smp_self_stop(s: list[int], k: Cfg, x: int) -> None:
    """kernel/panic.c panic_smp_self_stop(): spin with interrupts off, still online (weak);
    arm64 local_cpu_stop() marks the CPU offline."""
    s[MODE + x] = M_SELF_STOPPED
    if k.arch == A_ARM64:
        s[ONLINE] &= ~(1 << x)
    else:
        s[ONLINE] |= 1 << x


def ipi_stop(s: list[int], k: Cfg, save: bool, off: bool, tmo: int) -> None:
    """An ordinary stop IPI to the online CPUs (arm64 smp_cross_call, mips smp_call_function):
    only a CPU running with interrupts on takes it; wait `tmo` if any did not answer."""
    _stop_online(s, k, save, off, lambda st, c: st[MODE + c] == M_RUNNING, tmo)


def _stop_online(s: list[int], k: Cfg, save: bool, off: bool,
                 answers: Callable[[list[int], int], bool], tmo: int) -> None:
    """Stop every online, not yet halted CPU that `answers` the interrupt; wait `tmo` when
    one did not (the senders' bounded waits: arm64 1 s, mips and powerpc 10 s)."""
    missed = 0
    for c in range(1, k.ncpu):
        if s[ONLINE] >> c & 1 and not _halted(s, c):
            if answers(s, c):
                stop_cpu(s, c, save, off, False)
            else:
                missed += 1
    if missed:
        s[NOW] += tmo


def x86_smp_send_stop(s: list[int], k: Cfg) -> None:
    """arch/x86/kernel/smp.c native_stop_other_cpus(wait=0): REBOOT_VECTOR IPI, 1 s, then an NMI
    to the CPUs still running; stop_this_cpu(): offline, local APIC off, no registers saved."""
    deaf = []
    for c in range(1, k.ncpu):
        if s[ONLINE] >> c & 1 and not _halted(s, c):
            if s[MODE + c] == M_RUNNING:
                stop_cpu(s, c, False, True, True)
            else:
                deaf.append(c)
    if deaf:
        s[NOW] += X86_REBOOT_IPI_WAIT
        late = False
        for c in deaf:
            if _answers_nmi(s, c):
                stop_cpu(s, c, False, True, True)
            else:
                late = True
        if late:
            s[NOW] += X86_STOP_NMI_WAIT


def x86_nmi_shootdown(s: list[int], k: Cfg) -> None:
    """arch/x86/kernel/reboot.c nmi_shootdown_cpus(kdump_nmi_callback): once
    (crash_ipi_issued); crash_nmi_callback saves registers and halts; an APIC-less CPU gets
    nothing."""
    if s[SHOOTDOWN_DONE]:
        return
    s[SHOOTDOWN_DONE] = 1
    missed = 0
    for c in range(1, k.ncpu):
        if s[MODE + c] == M_CRASH_STOPPED:
            continue
        if _answers_nmi(s, c):
            stop_cpu(s, c, True, False, False)
        elif s[ONLINE] >> c & 1:
            missed += 1
    if missed:
        s[NOW] += X86_SHOOTDOWN_WAIT


def x86_crash_smp_send_stop(s: list[int], k: Cfg) -> None:
    """arch/x86/kernel/crash.c crash_smp_send_stop(): once; kdump_nmi_shootdown_cpus."""
    if not s[STOP_DONE]:
        x86_nmi_shootdown(s, k)
        s[STOP_DONE] = 1


def x86_machine_crash_shutdown(s: list[int], k: Cfg) -> None:
    """arch/x86/kernel/reboot.c machine_crash_shutdown -> machine_ops.crash_shutdown overrides
    (Hyper-V, KVM, Xen) then arch/x86/kernel/crash.c native_machine_crash_shutdown:
    crash_smp_send_stop (v4.9+; kdump_nmi_shootdown_cpus before), crash_save_cpu(self)."""
    run_crash_shutdown(s, k, len(k.cshut))
    if not s[ENDED]:
        if k.has_css:
            x86_crash_smp_send_stop(s, k)
        else:
            x86_nmi_shootdown(s, k)
        s[REGS] |= 1


def arm64_crash_smp_send_stop(s: list[int], k: Cfg) -> None:
    """arch/arm64/kernel/smp.c crash_smp_send_stop(): once; IPI_CPU_CRASH_STOP to online CPUs:
    crash_save_cpu and park offline; waits up to 1 s."""
    if not s[STOP_DONE]:
        ipi_stop(s, k, True, True, ARM64_STOP_WAIT)
        s[STOP_DONE] = 1


def arm64_machine_crash_shutdown(s: list[int], k: Cfg) -> None:
    """arch/arm64/kernel/machine_kexec.c machine_crash_shutdown(): crash_smp_send_stop,
    crash_save_cpu(self); no driver hook."""
    arm64_crash_smp_send_stop(s, k)
    s[REGS] |= 1


def mips_prepare_cpus(s: list[int], k: Cfg) -> None:
    """arch/mips/kernel/crash.c crash_kexec_prepare_cpus(): once; smp_call_function of
    crash_shutdown_secondary (registers saved) to online CPUs; waits up to 10 s."""
    if not s[SHOOTDOWN_DONE]:
        s[SHOOTDOWN_DONE] = 1
        ipi_stop(s, k, True, False, MIPS_CRASH_IPI_WAIT)


def mips_crash_smp_send_stop(s: list[int], k: Cfg) -> None:
    """arch/mips/kernel/crash.c crash_smp_send_stop() (v4.9): _crash_smp_send_stop (Octeon: the
    watchdog-stopping hooks) then crash_kexec_prepare_cpus(); before v4.9 the weak default."""
    if s[STOP_DONE]:
        return
    if k.has_mips_css:
        for cur in k.cshut:
            if s[ENDED]:
                break
            if cur in k.wdt_stoppers:
                perform(s, k, cur, K_PANIC)
        if not s[ENDED]:
            mips_prepare_cpus(s, k)
    else:
        ipi_stop(s, k, False, True, 0)
    s[STOP_DONE] = 1


def mips_machine_crash_shutdown(s: list[int], k: Cfg) -> None:
    """arch/mips/kernel/machine_kexec.c machine_crash_shutdown -> octeon_crash_shutdown: the
    hooks, then default_machine_crash_shutdown: crash_save_cpu(self), prepare_cpus."""
    run_crash_shutdown(s, k, len(k.cshut))
    if not s[ENDED]:
        s[REGS] |= 1
        mips_prepare_cpus(s, k)


def ppc_nmi_ipi(s: list[int], k: Cfg, save: bool, off: bool) -> None:
    """arch/powerpc: NMI IPI (system reset) to online CPUs not yet stopped; waits up to 10 s."""
    _stop_online(s, k, save, off, _answers_nmi, PPC_CRASH_IPI_WAIT)


def ppc_crash_smp_send_stop(s: list[int], k: Cfg) -> None:
    """arch/powerpc/kernel/smp.c crash_smp_send_stop() (v5.17+): nothing when fadump will
    capture; once; crash_kexec_prepare() with a crash image, else smp_send_stop()."""
    if k.has_ppc_css:
        if k.has_fadump or s[STOP_DONE]:
            return
        if k.crash_loaded:
            ppc_nmi_ipi(s, k, True, False)
            s[CONSOLE_DEFERRED] = 1  # crash_kexec_prepare(): printk_deferred_enter()
        else:
            ppc_nmi_ipi(s, k, False, True)
        s[STOP_DONE] = 1
    elif not s[STOP_DONE]:
        ppc_nmi_ipi(s, k, False, True)
        s[STOP_DONE] = 1


def ppc_machine_crash_shutdown(s: list[int], k: Cfg) -> None:
    """arch/powerpc/kexec/crash.c default_machine_crash_shutdown: stop the CPUs,
    crash_save_cpu, then the crash_shutdown_register() handlers (at most 3)."""
    if k.has_ppc_css:
        ppc_crash_smp_send_stop(s, k)
    else:
        ppc_nmi_ipi(s, k, True, False)
    s[REGS] |= 1
    run_crash_shutdown(s, k, PPC_CRASH_HANDLER_MAX)


def s390_smp_send_stop(s: list[int], k: Cfg) -> None:
    """arch/s390/kernel/smp.c smp_send_stop(): SIGP STOP to every other CPU, whatever its mask."""
    for c in range(1, k.ncpu):
        if not _halted(s, c):
            stop_cpu(s, c, False, False, False)


def s390_crash_smp_send_stop(s: list[int], k: Cfg) -> None:
    """kernel/panic.c crash_smp_send_stop() (weak): smp_send_stop() once (s390 has no override)."""
    if not s[STOP_DONE]:
        s390_smp_send_stop(s, k)
        s[STOP_DONE] = 1


def _arm64_smp_send_stop(s: list[int], k: Cfg) -> None:
    """arch/arm64/kernel/smp.c smp_send_stop: IPI_CPU_STOP, offline, waits up to 1 s."""
    ipi_stop(s, k, False, True, ARM64_STOP_WAIT)


def _ppc_smp_send_stop(s: list[int], k: Cfg) -> None:
    """arch/powerpc/kernel/smp.c smp_send_stop: the NMI IPI, offline."""
    ppc_nmi_ipi(s, k, False, True)


def _mips_smp_send_stop(s: list[int], k: Cfg) -> None:
    """arch/mips/kernel/smp.c smp_send_stop: smp_call_function(stop_this_cpu), no wait."""
    ipi_stop(s, k, False, True, 0)


def _no_crash_shutdown(s: list[int], k: Cfg) -> None:
    """arch/s390/kernel/machine_kexec.c machine_crash_shutdown: set_os_info_reipl_block() only."""


ArchOp = Callable[[list[int], Cfg], None]
SMP_SEND_STOP: dict[int, ArchOp] = {
    A_X86: x86_smp_send_stop, A_ARM64: _arm64_smp_send_stop, A_PPC: _ppc_smp_send_stop,
    A_MIPS: _mips_smp_send_stop, A_S390: s390_smp_send_stop}
"""kernel/panic.c smp_send_stop() per architecture."""
CRASH_SMP_SEND_STOP: dict[int, ArchOp] = {
    A_X86: x86_crash_smp_send_stop, A_ARM64: arm64_crash_smp_send_stop,
    A_PPC: ppc_crash_smp_send_stop, A_MIPS: mips_crash_smp_send_stop,
    A_S390: s390_crash_smp_send_stop}
"""kernel/panic.c crash_smp_send_stop() (weak: smp_send_stop() once) and the arch overrides."""
MACHINE_CRASH_SHUTDOWN: dict[int, ArchOp] = {
    A_X86: x86_machine_crash_shutdown, A_ARM64: arm64_machine_crash_shutdown,
    A_PPC: ppc_machine_crash_shutdown, A_MIPS: mips_machine_crash_shutdown,
    A_S390: _no_crash_shutdown}
"""machine_crash_shutdown() per architecture."""


def machine_kexec(s: list[int], k: Cfg) -> None:
    """machine_kexec(): s390 __do_machine_kdump stops the CPUs and stores every CPU's status."""
    if k.arch == A_S390:
        s390_smp_send_stop(s, k)
        s[REGS] = k.all_cpus


# ---------------------------------------------------------------- steps of panic()
def st_panic_entry(s: list[int], k: Cfg, a: int = 0) -> None:
    """kernel/panic.c panic() entry: snapshot crash_kexec_post_notifiers, claim panic_cpu; a CPU
    panicking at the same time parks in panic_smp_self_stop(); print the panic message."""
    s[POST_SNAP] = int(k.post)
    s[MODE] = M_PANICKING
    for c in range(1, k.ncpu):
        if s[MODE + c] == M_PANICKING:
            panic_smp_self_stop(s, k, c)
    printk_panic(s)


def st_crash_kexec(s: list[int], k: Cfg, a: int = 0) -> None:
    """kernel/kexec_core.c __crash_kexec(): with a crash image and the kexec lock:
    crash_setup_regs, machine_crash_shutdown, machine_kexec (no return): the crash point,
    where the capture kernel takes over (handover). The search has set PC to the next step
    (the capture kernel's boot); without a jump that step is passed over."""
    if k.crash_loaded and not s[KEXEC_LOCK]:
        s[KEXEC_LOCK] = 1
        # kdump_entered: written by the template, read by no property: not kept
        s[REGS] |= 1
        MACHINE_CRASH_SHUTDOWN[k.arch](s, k)
        if not s[ENDED]:
            machine_kexec(s, k)
            s[HANDOVER] = s[NOW]
            return
    s[PC] += 1  # no jump to a capture kernel: its boot is not a step of this path


def st_boot_capture_kernel(s: list[int], k: Cfg, a: int = 0) -> None:
    """What the capture kernel meets after machine_kexec: a device still doing DMA (or PV pages
    still shared) or a CPU still running writes memory; a VMbus disk needs the host to have
    finished the old connection's CHANNELMSG_UNLOAD (seed 001); an armed watchdog that fires
    during the dump resets the machine; an IOMMU still SNP-owned fails the boot
    (drivers/iommu/amd/init.c)."""
    if s[HANDOVER] == NONE or s[ENDED]:
        return
    handover = s[HANDOVER]
    if s[DEV_PRESENT] & (s[DEV_DMA] | k.pv_mask):
        s[MEM_WRITES] = 1
    for c in range(1, k.ncpu):
        if s[MODE + c] in (M_RUNNING, M_SPINNING):
            s[MEM_WRITES] = 1
    s[CAPTURE_BOOTED] = 1
    t_boot = handover + CAPTURE_BOOT
    if k.capture_oom or s[DEV_PRESENT] & k.snp_bit:
        # model/capture.py: out of memory in the reservation, or the IOMMU still SNP-owned
        s[CAPTURE_BOOTED] = 0
        path_end(s, E_CAPTURE_FAILED)
        return
    s[TARGET_KNOWN] = 1
    t_ready = t_boot
    if not k.target_vmbus:
        s[TARGET_OK] = 1
    elif s[VMBUS] == VB_ABSENT or s[UNLOAD_DONE] == NONE:
        s[TARGET_OK] = 0
    else:
        t_conn = t_boot
        posted, done = s[UNLOAD_POSTED], s[UNLOAD_DONE]
        if posted != NONE and posted >= handover:
            t_conn = done if done < posted + VMBUS_UNLOAD_TIMEOUT else posted + VMBUS_UNLOAD_TIMEOUT
            t_conn = t_conn if t_conn > t_boot else t_boot
        t_ready = t_conn
        s[TARGET_OK] = int(done <= t_conn)
    t_done = t_ready + k.dump_copy
    if (s[WDT] and handover + OCTEON_WDT < t_done) or \
            (s[BMC_TIMEOUT] != NONE and s[BMC_PET] + s[BMC_TIMEOUT] * 1000 < t_done) or \
            (k.hw_wdt_ms != NONE and k.hw_wdt_ms < t_done):
        s[VMCORE] = 0
        path_end(s, E_WDT_RESET)
        return
    if s[TARGET_OK]:
        s[VMCORE] = 1
        s[VMCORE_WRITES] = s[MEM_WRITES]
        s[VMCORE_SAVED] = (s[REGS] & k.all_cpus).bit_count()
    path_end(s, E_CAPTURE)


def st_smp_send_stop(s: list[int], k: Cfg, a: int = 0) -> None:
    """kernel/panic.c smp_send_stop() (the arch's)."""
    SMP_SEND_STOP[k.arch](s, k)


def st_crash_smp_send_stop(s: list[int], k: Cfg, a: int = 0) -> None:
    """kernel/panic.c crash_smp_send_stop() (the arch's)."""
    CRASH_SMP_SEND_STOP[k.arch](s, k)


def st_panic_other_cpus_shutdown(s: list[int], k: Cfg, a: int = 0) -> None:
    """kernel/panic.c panic_other_cpus_shutdown() (6.1.192 backport, v6.3)."""
    if s[POST_SNAP]:
        CRASH_SMP_SEND_STOP[k.arch](s, k)
    else:
        SMP_SEND_STOP[k.arch](s, k)


def st_chain_entry(s: list[int], k: Cfg, a: int = 0) -> None:
    """kernel/notifier.c notifier_call_chain(): a corrupt notifier_block.next faults before any
    callback runs (oops inside panic: never returns)."""
    if s[LIST_CORRUPT]:
        if s[CONSOLE_DEFERRED] and k.has_unblank_flush:  # steps.oops_console_unblank
            s[CONSOLE_PANIC] = s[CONSOLE_PANIC] or s[LOG_PANIC]
        path_end(s, E_HANG)
    else:
        s[CB_STOP] = 0


def st_console_flush_on_panic(s: list[int], k: Cfg, a: int = 0) -> None:
    """kernel/panic.c console_flush_on_panic(): every pending line is printed."""
    if s[CONSOLE_DEFERRED]:
        s[CONSOLE_DEFERRED] = 0
        s[CONSOLE_PANIC] = s[CONSOLE_PANIC] or s[LOG_PANIC]


def st_panic_timeout(s: list[int], k: Cfg, a: int = 0) -> None:
    """kernel/panic.c end of panic(): panic_timeout > 0 waits then emergency_restart()
    (kernel/reboot.c: kmsg_dump(KMSG_DUMP_EMERG), machine_emergency_restart); 0 prints
    "end Kernel panic" and loops forever."""
    if k.panic_timeout != 0:
        if k.panic_timeout > 0:
            s[NOW] += k.panic_timeout * 1000
        kmsg_dump(s, k, K_EMERG)
        path_end(s, E_REBOOT)
    else:
        printk_panic(s)
        path_end(s, E_HALT)


def st_end(s: list[int], k: Cfg, a: int = 0) -> None:
    """kernel/panic.c: the end of panic() (the `for (;;)` loop) when nothing ended it before."""
    path_end(s, E_HALT)


PLAIN_STEPS: dict[str, StepFn] = {
    "panic_entry": st_panic_entry,
    "smp_send_stop": st_smp_send_stop,
    "crash_smp_send_stop": st_crash_smp_send_stop,
    "panic_other_cpus_shutdown": st_panic_other_cpus_shutdown,
    "console_flush_on_panic": st_console_flush_on_panic,
    "panic_timeout": st_panic_timeout,
}
SUPPORTED_STEPS = frozenset({*PLAIN_STEPS, "crash_kexec", "notifier_chain", "kmsg_dump",
                             "panic_print_sys_info"})
"""The steps of kernel/panic.c the fast explorer implements (as promela.STEP_CALLS)."""


def st_chain_call(s: list[int], k: Cfg, cur: int = 0) -> None:
    """kernel/notifier.c notifier_call_chain(): the next notifier, unless one returned
    NOTIFY_STOP_MASK."""
    if not s[CB_STOP]:
        perform(s, k, cur, K_PANIC)


def st_dump_call(s: list[int], k: Cfg, cur: int = 0) -> None:
    """kernel/printk/printk.c kmsg_dump(KMSG_DUMP_PANIC): the next dumper on dump_list whose
    max_reason admits KMSG_DUMP_PANIC."""
    perform(s, k, cur, K_PANIC)


G_ALWAYS, G_POST, G_NOT_POST = 0, 1, 2
GUARD = {"": G_ALWAYS, "post": G_POST, "!post": G_NOT_POST}
"""An op's condition on panic()'s snapshot of crash_kexec_post_notifiers (Policy Op.when)."""


def _program(k: Cfg, policy: Policy, chain: list[int]) -> list[ProgramStep]:
    """The policy's program flattened: (label, step, argument, guard, index after the op).
    The guard is evaluated at the op's first step only (post_snap does not change after
    panic_entry); when it is false the search goes straight to the index after the op."""
    out: list[ProgramStep] = []
    for op in policy.program:
        tag = op.step + (f" (when {op.when})" if op.when else "")
        steps: list[tuple[str, StepFn, int]] = []
        if op.step == "crash_kexec":
            steps.append((f"{tag}: __crash_kexec -> machine_kexec", st_crash_kexec, 0))
            steps.append((f"{tag}: capture kernel boots", st_boot_capture_kernel, 0))
        elif op.step == "notifier_chain":
            steps.append((f"{tag}: enter panic_notifier_list", st_chain_entry, 0))
            steps += [(f"{tag}: {k.callbacks[cur].name}", st_chain_call, cur) for cur in chain]
        elif op.step == "kmsg_dump":
            steps += [(f"{tag}: {k.callbacks[cur].name}", st_dump_call, cur)
                      for cur in k.dumpers if k.cb_maxr[cur] >= K_PANIC]
        elif op.step == "panic_print_sys_info":
            continue  # kernel/panic.c panic_print_sys_info: printing only (bit 0x4 refused)
        else:
            steps.append((tag, PLAIN_STEPS[op.step], 0))
        after = len(out) + len(steps)
        guard = GUARD[op.when]
        for i, (label, fn, arg) in enumerate(steps):
            out.append((label, fn, arg, guard if i == 0 else G_ALWAYS, after))
    out.append(("end of panic()", st_end, 0, G_ALWAYS, len(out) + 1))
    return out


# ---------------------------------------------------------------- compile
def _notifier_chain_register(chain: list[int], cur: int, prio: list[int]) -> None:
    """kernel/notifier.c notifier_chain_register(): walk while the existing entry's priority is
    >= the new one (`if (n->priority > (*nl)->priority) break;`), insert there; refuse a block
    already on the chain (-EEXIST)."""
    if cur in chain:
        return
    j = 0
    while j < len(chain) and prio[cur] <= prio[chain[j]]:
        j += 1
    chain.insert(j, cur)


def check_subset(q: Question) -> tuple[Policy, list[Scenario]]:
    """The question's policy and configurations, or ExportError (one line) when the question is
    outside the subset promela.py exports (`promela.subset`)."""
    policy, configs, _ = subset(q, "the fast explorer's subset")
    for st in (op.step for op in policy.program):
        if st not in SUPPORTED_STEPS:  # pragma: no cover - _policy refuses these first
            raise ExportError(f"step {st!r} not in the fast explorer's subset")
    return policy, configs


def _body(cb: Callback, k: Cfg) -> list[tuple[Op, str]]:
    """The callback's needs then effects as (operation, argument), as the template's perform
    case for it (promela._need_line / _effect_line): no-op kinds left out."""
    body: list[tuple[Op, str]] = []
    for n in cb.needs:
        if n.kind == "other-cpus-online":
            continue  # declared, not checked (as the template)
        if n.kind not in NEEDS:
            raise ExportError(f"callback {cb.name!r}: need {n.kind!r} not in the subset")
        if n.kind == "trylock" and n.wait_ms:
            body.append((need_trylock_wait, f"{n.arg}|{n.wait_ms}"))
            continue
        body.append((NEEDS[n.kind], n.arg))
    for e in cb.effects:
        if e.kind not in EFFECT_KINDS:
            raise ExportError(f"callback {cb.name!r}: effect {e.kind!r} unknown")
        if e.kind in NO_OP_EFFECTS:
            continue  # no state the properties read
        if e.kind == "print":
            if PANIC_MSG in (e.arg or cb.name):
                body.append((eff_print_panic, ""))
            continue  # any other printk: nothing the properties read
        arg = e.arg
        if e.kind == "kvm-pv-off":
            arg = "kvm-pv-cpu0"
        elif e.kind == "snp-iommu-shutdown":
            arg = "snp-iommu"
        elif e.kind == "spin":
            arg = str(int(e.arg))
        body.append((EFFECTS[e.kind], arg))
    return body


def compile_config(index: int, scn: Scenario, policy: Policy, q: Question) -> Cfg:
    """The table and step lists of one configuration, and its boot state (engine._boot
    restated as the template's boot_N: command line, hypervisor, the drivers' boot effects,
    then the registrations in boot order)."""
    arch = ARCHES[scn.arch]
    major, minor = arch.kdump_since
    version = policy.version[0] * 100 + policy.version[1]
    feats = policy.features
    post_option = "post_notifiers_option" in feats
    k = Cfg(index=index, scenario=scn, ncpu=scn.cpus, arch=ARCH_CODE[scn.arch], version=version,
            crash_loaded=scn.kdump and version >= major * 100 + minor
            and crash_image_fits(scn),
            crash_wanted=scn.kdump and version >= major * 100 + minor,
            post=bool(scn.int_param("crash_kexec_post_notifiers", 0)) and post_option,
            target_vmbus=scn.effective_dump_target == "vmbus-storage")
    assert set(FEATURES) >= {"crash_smp_send_stop", "mips_crash_smp_send_stop"}
    k.has_css = "crash_smp_send_stop" in feats
    k.has_mips_css = "mips_crash_smp_send_stop" in feats
    k.has_ppc_css = "ppc_crash_smp_send_stop" in feats
    # faults.py _nmi_context: an nbcon console (7.3's 8250) prints from NMI at once
    k.has_nmi_deferred = "printk_nmi_deferred" in feats and "nbcon_console" not in feats
    k.has_unblank_flush = "console_unblank_flush" in feats
    k.panic_timeout = scn.int_param("panic", 0)
    k.capture_oom = capture_memory_short(scn)
    k.dump_copy = scn.dump_copy_ms
    k.record_panic_msg = scn.int_param("hyperv_record_panic_msg", 1)
    k.panic_op_event = scn.param("ipmi_msghandler.panic_op", "none") in ("event", "string")
    k.always_kmsg_dump = scn.int_param("printk.always_kmsg_dump", 0)
    k.host_stops = scn.host_panic_action in ("shutdown", "pause")
    k.path_bound_ms = scn.path_bound_ms

    drivers = select_drivers(scn, policy)
    regs = registered_callbacks(scn, policy)
    cbs = list(dict.fromkeys([*regs, hanging_notifier()]))  # stable, by value
    names: dict[str, int] = {}
    for cb in cbs:
        names.setdefault(cb.name, len(names))
    k.callbacks = [next(c for c in cbs if c.name == n) for n in names]
    lock_names = locks_of(k.callbacks)
    if any(e.kind == "persist-log" for cb in k.callbacks for e in cb.effects):
        lock_names = sorted({*lock_names, "pstore-buf"})
    k.locks = {n: i for i, n in enumerate(lock_names)}
    k.devices = {n: i for i, n in enumerate(device_names([(scn, drivers)], k.callbacks))}
    k.pv_mask = sum(1 << i for n, i in k.devices.items() if n.startswith("kvm-pv-cpu"))
    k.snp_bit = 1 << k.devices["snp-iommu"] if "snp-iommu" in k.devices else 0
    k.pcie_bit = 1 << k.devices["pcie-dma"]
    for cb in k.callbacks:
        if cb.list not in LISTS:
            raise ExportError(f"callback {cb.name!r} is on list {cb.list!r}; the subset "
                              f"supports {', '.join(LISTS)}")
        k.bodies.append(_body(cb, k))
        maxr = KMSG_DUMP_REASONS[cb.max_reason]
        k.cb_maxr.append(maxr if maxr != K_UNDEF else (K_MAX if k.always_kmsg_dump else K_OOPS))
    k.wdt_stoppers = frozenset(i for i, cb in enumerate(k.callbacks)
                               if any(e.kind == "stop-watchdogs-online" for e in cb.effects))

    # boot state (template init + boot_N)
    s = [0] * (MODE + k.ncpu)
    s[PC] = -1
    s[HANG_CB] = NONE
    s[HELD] = NONE
    s[ONLINE] = s[APIC] = k.all_cpus
    s[LATENCY] = DEFAULT_LATENCY
    s[UNLOAD_POSTED] = s[UNLOAD_DONE] = s[BMC_TIMEOUT] = s[HANDOVER] = NONE
    if scn.hypervisor == "hyperv":
        s[VMBUS] = VB_CONNECTED  # drivers/hv/vmbus_drv.c vmbus_bus_init
    if scn.hypervisor == "kvm" and scn.arch == "x86_64":
        s[DEV_PRESENT] |= 1 << k.devices["kvm-pv-cpu0"]  # arch/x86/kernel/kvm.c kvm_guest_cpu_init
    for d in drivers:
        for b in d.boot:
            kind, _, arg = b.partition(":")
            if kind == "force-post-notifiers":
                k.post = k.post or post_option
            elif kind == "vmbus-connect":
                s[VMBUS] = VB_CONNECTED
            elif kind == "dma-device":
                s[DEV_PRESENT] |= 1 << k.devices[arg]
                k.dma_capable |= 1 << k.devices[arg]
            elif kind == "arm-cpu-watchdogs":
                s[WDT] = k.all_cpus
                k.watchdogs_at_boot = True
            elif kind == "arm-bmc-watchdog":
                s[BMC_TIMEOUT] = 10  # ipmi_watchdog.c default timeout
                k.watchdogs_at_boot = True
            elif kind == "arm-hw-watchdog":
                t = hw_watchdog_timeout_s(scn, arg) * 1000
                k.hw_wdt_ms = t if k.hw_wdt_ms == NONE else min(k.hw_wdt_ms, t)
                k.watchdogs_at_boot = True
            elif kind == "snp-iommu":
                s[DEV_PRESENT] |= k.snp_bit
            else:
                raise ExportError(f"driver {d.name!r}: boot effect {kind!r} not in the subset")
    chain: list[int] = []
    prio = [cb.priority for cb in k.callbacks]
    for cb in regs:
        cur = names[cb.name]
        kinds = {e.kind for e in cb.effects}
        if cb.list == "panic_notifier_list":
            _notifier_chain_register(chain, cur, prio)
            k.has_fadump |= "firmware-dump" in kinds
            k.fb_channel |= "fb-update" in kinds
        elif cb.list == "kmsg_dumper":
            k.dumpers.append(cur)  # kernel/printk/printk.c kmsg_dump_register: list_add_tail_rcu
            k.has_hv_page |= "hv-kmsg-dump" in kinds
            k.log_sink |= bool(kinds & {"persist-log", "hv-kmsg-dump"})
        else:
            k.cshut.append(cur)
        if kinds & REPORT_EFFECTS or ("ipmi-panic" in kinds and k.panic_op_event):
            k.host_channel = True
    with_hang = list(chain)
    _notifier_chain_register(with_hang, names[HANGING_NOTIFIER], prio)
    k.chains = (chain, with_hang)
    k.root = tuple(s)
    k.faults = _faults(k, scn, q.fault_names)
    plain = _program(k, policy, chain)
    extra = "hanging-callback" in (name for name, _, _ in k.faults)  # the bare fault: HANGV
    k.programs = (plain, _program(k, policy, with_hang) if extra else plain)
    return k


def _faults(k: Cfg, scn: Scenario, names: tuple[str, ...]) -> list[tuple[str, int,
                                                                          Callable[[list[int]], None]]]:
    """The adversary's alphabet (promela_alphabet) and what each fault does to the booted
    state (faults.py, as the template's adversary_N)."""
    bases: dict[str, int] = {}
    out: list[tuple[str, int, Callable[[list[int]], None]]] = []
    for f in promela_alphabet(scn, names):
        base, _, arg = f.partition("=")
        bit = 1 << bases.setdefault(base, len(bases))
        out.append((f, bit, _fault_fn(k, base, arg)))
    return out


def _fault_fn(k: Cfg, base: str, arg: str) -> Callable[[list[int]], None]:
    """What fault `base` (argument `arg`) does to the booted state (promela._fault_options)."""
    if base in ("concurrent-panic", "ipi-deaf-cpu"):
        cpu = int(arg) if arg else VICTIM
        mode = M_PANICKING if base == "concurrent-panic" else M_SPINNING

        def cpu_fault(s: list[int]) -> None:
            """faults.py: another CPU panics at the same time / spins with interrupts off."""
            s[MODE + cpu] = mode
        return cpu_fault
    if base == "corrupted-notifier-list":
        if arg:
            raise ExportError(f"{base}={arg}: a corrupt next pointer after a given callback is "
                              "modelled by the object engine only (check --engine object)")

        def corrupt(s: list[int]) -> None:
            """faults.py: a notifier_block.next overwritten (seed 000, Biederman)."""
            s[LIST_CORRUPT] = 1
        return corrupt
    if base == "dma-active":
        def dma(s: list[int]) -> None:
            """faults.py dma-active: every DMA-capable device present, else an anonymous PCIe
            device, keeps doing DMA into RAM (seed 002)."""
            busy = s[DEV_PRESENT] & k.dma_capable
            if busy:
                s[DEV_DMA] |= busy
            else:
                s[DEV_PRESENT] |= k.pcie_bit
                s[DEV_DMA] |= k.pcie_bit
        return dma
    if base == "hanging-callback":
        if arg:
            idx = next(i for i, cb in enumerate(k.callbacks) if cb.name == arg)

            def hang(s: list[int]) -> None:
                """faults.py hanging-callback=NAME: that callback never returns."""
                s[HANG_CB] = idx
            return hang

        def extra(s: list[int]) -> None:
            """faults.py hanging-callback: an extra priority-0 notifier that never returns."""
            s[HANGV] = 1
        return extra
    if base == "lock-held-by-stopped-cpu":
        lock = k.locks[arg]

        def held(s: list[int]) -> None:
            """faults.py: CPU VICTIM holds the lock when it is stopped (seeds 001, 004)."""
            s[HELD] = lock
        return held
    if base == "nmi-context":
        deferred = int(k.has_nmi_deferred)

        def nmi(s: list[int]) -> None:
            """faults.py nmi-context: panic() from NMI; printk deferred (cf9b1106c81c, v4.7)."""
            s[CONSOLE_DEFERRED] = deferred
            s[NMIB] |= 1
        return nmi
    if base == "slow-host":
        latency = int(arg) if arg else SLOW_HOST_MS

        def slow(s: list[int]) -> None:
            """faults.py slow-host: the host answers after `latency` ms (seed 001)."""
            s[LATENCY] = latency
        return slow
    raise ExportError(f"fault {base!r} not in the fast explorer's subset")


# ---------------------------------------------------------------- the property
_TOKEN = re.compile(r"\s*(&&|\|\||==|!=|<=|>=|!|<|>|\(|\)|[A-Za-z_][A-Za-z0-9_]*|\d+)")
_STATE_VARS = {n: i for i, n in enumerate(FIELD_NAMES)}
_STATE_VARS.update({"reports": REPORTS, "wdt": WDT})
_CFG_VARS = {"crash_loaded", "crash_wanted", "has_fadump", "host_channel", "fb_channel", "log_sink",
             "watchdogs_at_boot"}
_CONSTS = {"NCPU": "k.ncpu", "PATH_BOUND_MS": "k.path_bound_ms", "true": "True",
           "false": "False"}


def translate(expr: str) -> str:
    """A PROPERTY_EXPR expression (Promela over the template's globals) as Python over the state
    `s` and the configuration `k`; ``no_wdt`` stands for every ``!wdt[i]``."""
    out: list[str] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise ExportError(f"property expression {expr!r} not understood at {pos}")
        tok = m.group(1)
        pos = m.end()
        if tok == "&&":
            out.append(" and ")
        elif tok == "||":
            out.append(" or ")
        elif tok == "!":
            out.append(" not ")
        elif tok in ("==", "!=", "<=", ">=", "<", ">"):
            out.append(f" {tok} ")
        elif tok in "()" or tok.isdigit():
            out.append(tok)
        elif tok == "no_wdt":
            out.append(f"(s[{WDT}] == 0)")
        elif tok in _CONSTS:
            out.append(_CONSTS[tok])
        elif tok.startswith("E_"):
            out.append(str(globals()[tok]))
        elif tok in _CFG_VARS:
            out.append(f"k.{tok}")
        elif tok in _STATE_VARS:
            out.append(f"s[{_STATE_VARS[tok]}]")
        else:
            raise ExportError(f"property expression {expr!r}: unknown name {tok!r}")
    return "".join(out)


PropertyFn = Callable[[State, Cfg], bool]


def property_fn(prop: str) -> PropertyFn:
    """`not APPLICABLE or HOLDS` of promela.PROPERTY_EXPR[prop], over a final state."""
    applicable, holds = PROPERTY_EXPR[prop]
    holds = holds.format(no_wdt="no_wdt")
    code = f"lambda s, k: not ({translate(applicable)}) or bool({translate(holds)})"
    fn: PropertyFn = eval(code, {"__builtins__": {"bool": bool}})  # our own text: PROPERTY_EXPR translated
    return fn


__all__ = ["Cfg", "ExportError", "State", "check_subset", "compile_config", "property_fn",
           "translate"]
