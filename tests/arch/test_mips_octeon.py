"""arch/mips + cavium-octeon: online-only watchdog shutdown, crash_kexec_prepare_cpus."""

from __future__ import annotations

from panicpath.arch.mips_octeon import MipsOcteon
from panicpath.engine import build
from panicpath.model.scenario import Scenario


def test_offline_cpu_keeps_its_watchdog_through_machine_crash_shutdown() -> None:
    """octeon_generic_shutdown zeroes the CIU watchdog of ONLINE CPUs only (seed 003)."""
    run = build(Scenario(policy="linux-3.16", arch="mips-octeon"))
    MipsOcteon().smp_send_stop(run)
    MipsOcteon().machine_crash_shutdown(run)
    assert run.machine.cpus[1].watchdog_armed
    assert not run.machine.cpus[1].regs_saved


def test_crash_smp_send_stop_hook_stops_watchdogs_first() -> None:
    """v4.9: _crash_smp_send_stop (octeon_crash_smp_send_stop) while CPUs are online."""
    run = build(Scenario(policy="linux-4.9", arch="mips-octeon"))
    MipsOcteon().crash_smp_send_stop(run)
    assert not any(c.watchdog_armed for c in run.machine.cpus)
    assert all(c.regs_saved for c in run.machine.cpus[1:])
