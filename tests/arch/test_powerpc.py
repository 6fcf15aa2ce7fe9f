"""arch/powerpc: crash_shutdown_register table, NMI IPI stop, fadump short-circuit."""

from __future__ import annotations

from panicpath.arch.powerpc import CRASH_HANDLER_MAX, PowerPC
from panicpath.engine import build, simulate
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


def _post(faults: tuple[str, ...], drivers: tuple[str, ...] = (),
          kdump: bool = True) -> tuple[tuple[str, ...], list[str]]:
    note = Callback(name="high", list="panic_notifier_list", priority=200, order=100,
                    effects=(Effect("print", "LABPANIC notifier high"),))
    r = simulate(Scenario(arch="powerpc", kdump=kdump, drivers=drivers, user_callbacks=(note,),
                          params=(("crash_kexec_post_notifiers", "1"),), faults=faults))
    return r.console, [e.event for e in r.trace]


def test_crash_stop_defers_printk_until_a_console_flush() -> None:
    """crash_kexec_prepare() enters printk_deferred and never leaves (arch/powerpc/kexec/
    crash.c, 6.1): a post-notifiers notifier's line stays in the log buffer when a later
    notifier never returns (the lab's pseries 6.1 hanging-callback run: nothing after the
    call trace); pseries_panic's panic_flush_kmsg_end() flushes it (arch/powerpc/kernel/
    traps.c: console_flush_on_panic), as the lab sees in post_notifiers_order."""
    hung, _ = _post(("hanging-callback",))
    assert "LABPANIC notifier high" not in hung
    flushed, events = _post((), drivers=("pseries-os-term",))
    assert "LABPANIC notifier high" in flushed
    assert events.index("console_flush_on_panic") < events.index("pseries-os-term") + 1


def test_without_a_crash_image_the_stop_does_not_defer_printk() -> None:
    """Without a crash image crash_smp_send_stop() is smp_send_stop(): no
    crash_kexec_prepare(), printk reaches the console at once even before a hang."""
    console, _ = _post(("hanging-callback",), kdump=False)
    assert "LABPANIC notifier high" in console
