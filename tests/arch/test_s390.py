"""arch/s390: SIGP STOP whatever the interrupt mask; kdump stores every CPU's status."""

from __future__ import annotations

from panicpath.arch.s390 import S390
from panicpath.engine import build
from panicpath.model.scenario import Scenario
from panicpath.model.state import CpuMode


def test_sigp_stop_ignores_interrupt_masks() -> None:
    run = build(Scenario(arch="s390", faults=("ipi-deaf-cpu",)))
    S390().smp_send_stop(run)
    assert run.machine.cpus[1].mode is CpuMode.STOPPED
    assert run.machine.now_ms == 0


def test_machine_kexec_saves_all_cpus() -> None:
    run = build(Scenario(arch="s390", cpus=3))
    S390().machine_kexec(run)
    assert all(c.regs_saved for c in run.machine.cpus)
