"""arch/powerpc: crash_shutdown_register table, NMI IPI stop, fadump short-circuit."""

from __future__ import annotations

from panicpath.arch.powerpc import CRASH_HANDLER_MAX, PowerPC
from panicpath.engine import build
from panicpath.model.callback import Callback, Effect
from panicpath.model.scenario import Scenario


def test_at_most_three_crash_shutdown_handlers_run() -> None:
    """arch/powerpc/kexec/crash.c: CRASH_HANDLER_MAX = 3; a fourth registration is refused
    ('Crash shutdown handles full')."""
    hooks = tuple(Callback(name=f"h{i}", list="crash_shutdown", order=i,
                           effects=(Effect("print", f"h{i}"),)) for i in range(4))
    run = build(Scenario(arch="powerpc", user_callbacks=hooks))
    PowerPC().machine_crash_shutdown(run)
    assert run.ran_callbacks == ["h0", "h1", "h2"]
    assert CRASH_HANDLER_MAX == 3


def test_nmi_ipi_reaches_a_cpu_with_interrupts_off() -> None:
    """pseries system-reset NMI IPI (arch/powerpc/kernel/smp.c): a hard-disabled CPU is stopped
    and, on the crash path, saves its registers."""
    run = build(Scenario(arch="powerpc", faults=("ipi-deaf-cpu",)))
    PowerPC().machine_crash_shutdown(run)
    assert run.machine.cpus[1].regs_saved


def test_fadump_skips_the_cpu_stop() -> None:
    """crash_smp_send_stop returns at once when should_fadump_crash() (v5.17+)."""
    run = build(Scenario(arch="powerpc", drivers=("fadump",)))
    PowerPC().crash_smp_send_stop(run)
    assert not run.machine.cpus[1].regs_saved
    assert "firmware will stop CPUs" in run.trace[-1].effect
