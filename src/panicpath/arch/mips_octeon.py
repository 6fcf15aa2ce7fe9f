"""MIPS Cavium Octeon: per-CPU CIU watchdogs stopped only on online CPUs (seed 003, Problem 1)."""

from __future__ import annotations

from panicpath.arch.base import Arch, ipi_stop
from panicpath.model.effects import perform
from panicpath.model.run import Run

CRASH_IPI_WAIT_MS = 10_000
"""arch/mips/kernel/crash.c crash_kexec_prepare_cpus(): waits up to 10000 ms."""


class MipsOcteon(Arch):
    """MIPS Octeon as in arch/mips/kernel/crash.c and arch/mips/cavium-octeon/setup.c (6.1)."""

    name = "mips-octeon"
    kdump_since = (2, 6)
    has_crash_shutdown_hook = True

    def smp_send_stop(self, run: Run) -> None:
        """arch/mips/kernel/smp.c smp_send_stop(): smp_call_function(stop_this_cpu) without
        waiting; stop_this_cpu() clears the CPU from cpu_online_mask and spins."""
        ipi_stop(run, vector="smp_send_stop", save_regs=False, offline=True, timeout_ms=0,
                 source="arch/mips/kernel/smp.c smp_send_stop")

    def _prepare_cpus(self, run: Run) -> None:
        """arch/mips/kernel/crash.c crash_kexec_prepare_cpus(): once; smp_call_function of
        crash_shutdown_secondary (saves registers) to the online CPUs; waits up to 10 s."""
        m = run.machine
        if m.shootdown_done:
            return
        m.shootdown_done = True
        ipi_stop(run, vector="crash_kexec_prepare_cpus", save_regs=True, offline=False,
                 timeout_ms=CRASH_IPI_WAIT_MS,
                 source="arch/mips/kernel/crash.c crash_kexec_prepare_cpus")

    def crash_smp_send_stop(self, run: Run) -> None:
        """arch/mips/kernel/crash.c crash_smp_send_stop() (v4.9, Kawai's MIPS companion patch):
        the `_crash_smp_send_stop` hook (Octeon: octeon_crash_smp_send_stop, zeroing the
        watchdog of every online CPU while they are all still online), then
        crash_kexec_prepare_cpus(). This is the fix for seed 003's Problem 1."""
        m = run.machine
        if not run.has("mips_crash_smp_send_stop"):
            super().crash_smp_send_stop(run)
            return
        if m.stop_done:
            return
        for cb in run.crash_shutdown:
            if any(e.kind == "stop-watchdogs-online" for e in cb.effects):
                perform(run, cb)
        self._prepare_cpus(run)
        m.stop_done = True

    def machine_crash_shutdown(self, run: Run) -> None:
        """arch/mips/kernel/machine_kexec.c machine_crash_shutdown -> _machine_crash_shutdown
        = octeon_crash_shutdown: octeon_generic_shutdown() (watchdogs of ONLINE CPUs only),
        then default_machine_crash_shutdown(): save this CPU's registers and
        crash_kexec_prepare_cpus()."""
        for cb in run.crash_shutdown:
            perform(run, cb)
        run.machine.me.regs_saved = True
        self._prepare_cpus(run)
