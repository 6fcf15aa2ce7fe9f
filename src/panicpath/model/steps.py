"""Kernel steps of panic(): each a function of the run's state, citing the code it models.

A policy (panicpath.policies) is an ordered program of these steps by name.
"""

from __future__ import annotations

from collections.abc import Callable

from panicpath.model import capture
from panicpath.model.callback import Callback
from panicpath.model.effects import LOCK_RELEASE_MS, perform
from panicpath.model.notifier import CorruptNodeFault, call_chain, dumper_wants
from panicpath.model.run import HANG_MS, Run
from panicpath.model.state import CpuMode

PANIC_MSG = "Kernel panic - not syncing"
HRTIMER_LOCK = "hrtimer_cpu_base.lock"
"""The per-CPU hrtimer base lock panic_print's timer dump takes (kernel/time/hrtimer.c
``struct hrtimer_cpu_base.lock``, a raw spinlock). One name stands for the lock of the CPU
the fault acts on."""


def panic_entry(run: Run) -> None:
    """kernel/panic.c panic() entry (6.1): snapshot crash_kexec_post_notifiers, irqs off,
    claim panic_cpu with atomic_cmpxchg (v4.5+; a spinlock before). A CPU panicking at
    the same time loses the race and calls panic_smp_self_stop(). Then print the
    panic message. In NMI context printk is deferred (kernel/printk/printk_safe.c) so
    nothing reaches the console until a later flush."""
    m = run.machine
    m.post_notifiers_snapshot = m.post_notifiers
    m.me.mode = CpuMode.PANICKING
    for c in m.other_cpus():
        if c.mode is CpuMode.PANICKING:
            run.arch.panic_smp_self_stop(run, c)
            where = "offline" if not c.online else "still online"
            run.emit("panic_smp_self_stop", "step",
                     f"CPU {c.id} panicked concurrently, lost panic_cpu and parked ({where})",
                     "kernel/panic.c panic / panic_smp_self_stop", cpu=c.id)
    run.printk(f"{PANIC_MSG}: {run.scenario.name or 'panicpath'}")
    post = "on" if m.post_notifiers_snapshot else "off"
    run.emit("panic", "step", f"panic_cpu={m.panic_cpu}; crash_kexec_post_notifiers {post}",
             "kernel/panic.c panic")


def crash_kexec(run: Run) -> None:
    """kernel/kexec_core.c __crash_kexec (6.1; crash_kexec() before v4.5): take the kexec
    lock; if a crash image is loaded: crash_setup_regs, crash_save_vmcoreinfo,
    machine_crash_shutdown, machine_kexec (no return). Without an image it returns and
    panic() goes on."""
    m = run.machine
    if not m.crash_image_loaded:
        run.emit("__crash_kexec", "step", "no crash kernel loaded: returns", "kernel/kexec_core.c")
        return
    if m.kexec_lock_held:
        run.emit("__crash_kexec", "step", "kexec lock busy: returns", "kernel/kexec_core.c")
        return
    m.kexec_lock_held = True
    m.kdump_entered = True
    m.me.regs_saved = True
    run.emit("__crash_kexec", "step", "crash_setup_regs, crash_save_vmcoreinfo",
             "kernel/kexec_core.c __crash_kexec")
    before_shutdown = run.hooks.get("before_machine_crash_shutdown")
    if before_shutdown is not None:
        # Proposals that run driver code on the kdump path only (seed 000, Piccoli's
        # approaches (2) and (3); seed 002, a list run from crash_shutdown()): the code
        # runs here, with the kexec lock taken and before the arch stops the other CPUs.
        before_shutdown(run)
    run.arch.machine_crash_shutdown(run)
    run.arch.machine_kexec(run)
    capture.boot_capture_kernel(run)


def smp_send_stop(run: Run) -> None:
    """kernel/panic.c: smp_send_stop() — the ordinary CPU stop (no registers saved)."""
    run.arch.smp_send_stop(run)


def crash_smp_send_stop(run: Run) -> None:
    """kernel/panic.c (v4.9 0ee59413c967 ..): crash_smp_send_stop() — stop the other CPUs
    the kdump way (registers saved) before the notifiers when post notifiers are on."""
    run.arch.crash_smp_send_stop(run)


def other_cpus_shutdown(run: Run) -> None:
    """kernel/panic.c panic_other_cpus_shutdown(crash_kexec) (6.1.192 backport, upstream
    ~v6.4): all-CPU backtrace first when panic_print has 0x40, then
    crash_smp_send_stop() with post notifiers, smp_send_stop() without."""
    if run.scenario.int_param("panic_print", 0) & 0x40:
        _all_cpu_backtrace(run)
    if run.machine.post_notifiers_snapshot:
        crash_smp_send_stop(run)
    else:
        smp_send_stop(run)


def _all_cpu_backtrace(run: Run) -> None:
    """trigger_all_cpu_backtrace(): an NMI to each online CPU prints its stack."""
    shown = [c.id for c in run.machine.other_cpus()
             if c.online and c.mode not in (CpuMode.STOPPED, CpuMode.CRASH_STOPPED)]
    for cid in shown:
        run.printk(f"NMI backtrace for cpu {cid}")
    run.emit("trigger_all_cpu_backtrace", "step", f"backtraces of CPUs {shown}",
             "kernel/panic.c panic_print 0x40 (8d470a45d1a6)")


def notifier_chain(run: Run) -> None:
    """kernel/panic.c atomic_notifier_call_chain(&panic_notifier_list, 0, buf): the
    callbacks in priority order (kernel/notifier.c). A corrupted node faults; the oops
    that follows inside panic (oops_end -> make_task_dead with interrupts off) never
    returns to panic(), so everything after it is lost."""
    _walk(run, run.notifiers, "panic_notifier_list")


def _walk(run: Run, chain: tuple[Callback, ...], name: str) -> None:
    m = run.machine
    run.emit("atomic_notifier_call_chain", "step", f"{name}: {len(chain)} callbacks",
             "kernel/notifier.c notifier_call_chain")
    try:
        call_chain(chain, lambda cb: perform(run, cb), corrupt=m.notifier_list_corrupt,
                   corrupt_after=m.corrupt_next_of)
    except CorruptNodeFault as fault:
        oops_console_unblank(run)
        run.wait(HANG_MS)
        run.emit("notifier_call_chain", "hang",
                 f"{fault}: oops inside panic, the CPU never returns",
                 "kernel/notifier.c notifier_call_chain; arch/x86/mm/fault.c page_fault_oops")
        raise run.end("hang", "oops on a corrupted notifier list") from None


def oops_console_unblank(run: Run) -> None:
    """The oops's oops_end() -> bust_spinlocks(0) -> console_unblank() (lib/bust_spinlocks.c;
    arch/x86/kernel/dumpstack.c, arch/powerpc/kernel/traps.c oops_end, 6.1): with
    oops_in_progress it trylocks the console and console_unlock() prints every pending
    record of the ring buffer, those printk deferred included (kernel/printk/printk.c
    console_unblank, 6.1.192). The printk context stays deferred: only what is already
    in the buffer goes out. Policies without ``console_unblank_flush`` (before v5.15
    deferred lines waited in per-CPU buffers; from v6.6, 7b23a66db55e, console_unblank()
    returns early without an unblank() console) print nothing here."""
    m = run.machine
    if not (m.console_deferred and run.has("console_unblank_flush")):
        return
    pending = _print_pending(run)
    run.emit("console_unblank", "step", f"oops: {pending} deferred lines printed",
             "lib/bust_spinlocks.c bust_spinlocks(0); kernel/printk/printk.c console_unblank")


def panic_print_sys_info(run: Run) -> None:
    """kernel/panic.c panic_print_sys_info() (v5.0+): per panic_print bits print task
    state (0x1), memory (0x2), timers (0x4), locks (0x8), ftrace (0x10). Before 6.1's
    panic_other_cpus_shutdown, bit 0x40 (v5.18) took the all-CPU backtrace here, after
    the other CPUs were already stopped."""
    bits = run.scenario.int_param("panic_print", 0)
    if not run.has("panic_other_cpus_shutdown") and bits & 0x40:
        _all_cpu_backtrace(run)
    names = [n for b, n in ((0x1, "show_state"), (0x2, "show_mem"), (0x4, "timer_list"),
                            (0x8, "locks"), (0x10, "ftrace_dump")) if bits & b]
    for n in names:
        run.printk(f"panic_print: {n}")
    run.emit("panic_print_sys_info", "step", ", ".join(names) if names else "panic_print=0",
             "kernel/panic.c panic_print_sys_info")
    if bits & 0x4:
        _timer_list(run)


def _timer_list(run: Run) -> None:
    """kernel/time/timer_list.c sysrq_timer_list_show() (6.1), panic_print bit 0x4 (since
    d999bd9392de, v5.0): for_each_online_cpu() print_cpu() -> print_active_timers() takes
    that CPU's ``raw_spin_lock_irqsave(&base->cpu_base->lock)``. A CPU stopped by the NMI
    shootdown stays in cpu_online_mask (arch/x86/kernel/reboot.c crash_nmi_callback, 6.1),
    so if it was stopped holding the lock the panic CPU spins forever; one taken offline by
    smp_send_stop (stop_this_cpu) is skipped. Seen in the lab: a guest under
    ``-accel tcg,thread=single`` hung at ``cpu: 1 ... active timers:`` (docs/lab.md)."""
    m = run.machine
    holder = m.locks.get(HRTIMER_LOCK)
    if holder is None or holder == m.panic_cpu:
        return
    cpu = m.cpus[holder]
    if not cpu.online:
        return
    if cpu.mode is CpuMode.RUNNING:
        run.wait(LOCK_RELEASE_MS)
        m.locks[HRTIMER_LOCK] = None
        return
    run.wait(HANG_MS)
    run.emit("panic_print_sys_info", "hang", f"timer_list: raw_spin_lock({HRTIMER_LOCK}) of "
             f"CPU {holder}, which is {cpu.mode.value} but still online: never released",
             "kernel/time/timer_list.c print_active_timers")
    raise run.end("hang", f"panic_print timer dump: deadlock on CPU {holder}'s {HRTIMER_LOCK}")


def kmsg_dump_panic(run: Run) -> None:
    """kernel/printk/printk.c kmsg_dump(KMSG_DUMP_PANIC): every registered dumper whose
    max_reason admits PANIC, in registration order."""
    _kmsg_dump(run, "PANIC")


def _kmsg_dump(run: Run, reason: str) -> None:
    always = bool(run.scenario.int_param("printk.always_kmsg_dump", 0))
    run.emit("kmsg_dump", "step", f"reason {reason}: {len(run.dumpers)} dumpers",
             "kernel/printk/printk.c kmsg_dump")
    for cb in run.dumpers:
        if dumper_wants(cb, reason, always):
            perform(run, cb, reason)


def _print_pending(run: Run) -> int:
    """console_unlock(): every record of the log buffer not yet on the console goes out
    now (kernel/printk/printk.c console_flush_all, 6.1); how many."""
    m = run.machine
    pending = [line for line in m.log if line not in m.console]
    m.console.extend(pending)
    m.console_ms.extend([m.now_ms] * len(pending))
    return len(pending)


def console_flush_on_panic(run: Run) -> None:
    """kernel/panic.c: console_unblank(); debug_locks_off(); console_flush_on_panic() —
    the console lock is taken by force and every pending line printed, including
    what NMI-context printk deferred."""
    m = run.machine
    if m.console_deferred:
        m.console_deferred = False
        pending = _print_pending(run)
        run.emit("console_flush_on_panic", "step", f"{pending} deferred lines printed",
                 "kernel/printk/printk.c console_flush_on_panic")
    else:
        run.emit("console_flush_on_panic", "step", "console flushed",
                 "kernel/printk/printk.c console_flush_on_panic")


def panic_timeout(run: Run) -> None:
    """kernel/panic.c end of panic(): panic_timeout > 0 waits that many seconds then
    emergency_restart(); < 0 restarts at once; 0 prints "end Kernel panic" and loops
    forever with interrupts on (the halt loop)."""
    timeout = run.scenario.int_param("panic", 0)
    if timeout != 0:
        if timeout > 0:
            run.printk(f"Rebooting in {timeout} seconds..")
            run.wait(timeout * 1000)
        emergency_restart(run)
    run.printk(f"---[ end {PANIC_MSG}: {run.scenario.name or 'panicpath'} ]---")
    run.emit("panic", "end", "end Kernel panic: halt loop (panic_timeout=0)", "kernel/panic.c")
    raise run.end("halt-loop", "panic() finished and loops forever")


def emergency_restart(run: Run) -> None:
    """kernel/reboot.c emergency_restart(): kmsg_dump(KMSG_DUMP_EMERG) then
    machine_emergency_restart()."""
    _kmsg_dump(run, "EMERG")
    run.emit("emergency_restart", "end", "machine_emergency_restart", "kernel/reboot.c")
    raise run.end("reboot", "emergency_restart after panic_timeout")


def run_list(name: str) -> Callable[[Run], None]:
    """A step that runs a further callback list a proposal adds, as a notifier chain."""

    def step(run: Run) -> None:
        _walk(run, run.extra_lists.get(name, ()), name)

    step.__name__ = f"run_list_{name}"
    step.__doc__ = f"Run the proposal's `{name}` list like a notifier chain (kernel/notifier.c)."
    return step


def run_calls(name: str) -> Callable[[Run], None]:
    """A step that calls the callbacks of `run.extra_lists[name]` directly, in their order:
    code compiled into the kernel as plain function calls, with no notifier list (seed 000,
    Piccoli's helper approaches: "no lists involved"). No list node is dereferenced, so a
    corrupted notifier list does not reach it; return values are ignored."""

    def step(run: Run) -> None:
        calls = run.extra_lists.get(name, ())
        run.emit(name, "step", f"direct calls: {', '.join(c.name for c in calls) or 'none'}",
                 "seed 000 (Piccoli, helper called directly, no list)")
        for cb in calls:
            perform(run, cb)

    step.__name__ = f"run_calls_{name}"
    step.__doc__ = f"Call the proposal's `{name}` callbacks directly (no notifier list)."
    return step


STEPS: dict[str, Callable[[Run], None]] = {
    "panic_entry": panic_entry,
    "crash_kexec": crash_kexec,
    "smp_send_stop": smp_send_stop,
    "crash_smp_send_stop": crash_smp_send_stop,
    "panic_other_cpus_shutdown": other_cpus_shutdown,
    "notifier_chain": notifier_chain,
    "panic_print_sys_info": panic_print_sys_info,
    "kmsg_dump": kmsg_dump_panic,
    "console_flush_on_panic": console_flush_on_panic,
    "panic_timeout": panic_timeout,
}
