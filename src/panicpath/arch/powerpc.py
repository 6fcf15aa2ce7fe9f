"""powerpc (pseries): NMI-IPI CPU stop, crash_shutdown_register handlers, fadump."""

from __future__ import annotations

from panicpath.arch.base import Arch, answers_nmi, stop_cpu
from panicpath.model.effects import perform
from panicpath.model.run import Run
from panicpath.model.state import CpuMode

CRASH_IPI_TIMEOUT_MS = 10_000
"""arch/powerpc/kexec/crash.c IPI_TIMEOUT (10000 ms)."""
CRASH_HANDLER_MAX = 3
"""arch/powerpc/kexec/crash.c CRASH_HANDLER_MAX: a fourth crash_shutdown_register() is refused."""


class PowerPC(Arch):
    """powerpc (pseries, with a system-reset NMI IPI) as in arch/powerpc of Linux 6.1.192."""

    name = "powerpc"
    kdump_since = (2, 6)
    has_crash_shutdown_hook = True

    def _nmi_ipi(self, run: Run, *, save_regs: bool, offline: bool, what: str, src: str) -> None:
        m = run.machine
        missed = []
        for c in m.other_cpus():
            if c.mode in (CpuMode.STOPPED, CpuMode.CRASH_STOPPED) or not c.online:
                continue
            if answers_nmi(c):
                stop_cpu(c, save_regs=save_regs, offline=offline)
            else:
                missed.append(c.id)
        eff = f"NMI IPI (system reset) to online CPUs; registers {'saved' if save_regs else 'NOT saved'}"
        offline_ids = [c.id for c in m.other_cpus() if not c.online and not c.regs_saved]
        if save_regs and offline_ids:
            eff += f"; offline CPUs {offline_ids} not signalled: registers NOT saved"
        if missed:
            run.wait(CRASH_IPI_TIMEOUT_MS)
            eff += f"; CPUs {missed} did not answer within 10 s"
        run.emit(what, "arch", eff, src)

    def smp_send_stop(self, run: Run) -> None:
        """arch/powerpc/kernel/smp.c smp_send_stop() (6.1, CONFIG_NMI_IPI): NMI IPI running
        stop_this_cpu(): the CPU leaves cpu_online_mask and spins; no registers saved."""
        self._nmi_ipi(run, save_regs=False, offline=True, what="smp_send_stop",
                      src="arch/powerpc/kernel/smp.c smp_send_stop")

    def crash_smp_send_stop(self, run: Run) -> None:
        """arch/powerpc/kernel/smp.c crash_smp_send_stop() (v5.17 219572d2fc41 .. 6.1): nothing
        when fadump will capture; once; with a crash image loaded crash_kexec_prepare()
        (NMI IPI, crash_ipi_callback saves registers), else smp_send_stop(). Before v5.17
        powerpc used the weak default, i.e. smp_send_stop().

        crash_kexec_prepare() begins with printk_deferred_enter() ("Avoid hardlocking with
        irresponsive CPU holding logbuf_lock", arch/powerpc/kexec/crash.c, 6.1) and never
        leaves it: from there the panic CPU's printk only fills the log buffer, so with
        crash_kexec_post_notifiers the notifiers' lines reach the console only at a
        console_flush_on_panic() (pseries_panic's panic_flush_kmsg_end(), or panic()'s
        own); a notifier that never returns keeps them there. Seen in the lab on pseries
        6.1 (docs/lab.md: hanging-callback with post notifiers prints nothing after the
        call trace)."""
        m = run.machine
        if not run.has("ppc_crash_smp_send_stop"):
            super().crash_smp_send_stop(run)
            return
        if any(e.kind == "firmware-dump" for cb in run.notifiers for e in cb.effects):
            run.emit("crash_smp_send_stop", "arch", "should_fadump_crash(): firmware will stop CPUs",
                     "arch/powerpc/kernel/smp.c crash_smp_send_stop")
            return
        if m.stop_done:
            return
        if m.crash_image_loaded:
            self._nmi_ipi(run, save_regs=True, offline=False, what="crash_kexec_prepare",
                          src="arch/powerpc/kexec/crash.c crash_kexec_prepare")
            m.console_deferred = True
        else:
            self.smp_send_stop(run)
        m.stop_done = True

    def machine_crash_shutdown(self, run: Run) -> None:
        """arch/powerpc/kexec/crash.c default_machine_crash_shutdown (6.1): stop the other
        CPUs (crash_smp_send_stop), crash_save_cpu for this CPU, then run the
        crash_shutdown_register() handlers in slot order (at most 3; each under setjmp so
        a fault moves on to the next; no timeout), then ppc_md.kexec_cpu_down."""
        if run.has("ppc_crash_smp_send_stop"):
            self.crash_smp_send_stop(run)
        else:
            self._nmi_ipi(run, save_regs=True, offline=False, what="crash_kexec_prepare_cpus",
                          src="arch/powerpc/kexec/crash.c crash_kexec_prepare_cpus")
        run.machine.me.regs_saved = True
        for i, cb in enumerate(run.crash_shutdown):
            if i >= CRASH_HANDLER_MAX:
                run.emit(cb.name, "crash_shutdown",
                         "not registered: Crash shutdown handles full",
                         "arch/powerpc/kexec/crash.c crash_shutdown_register")
                continue
            perform(run, cb)
