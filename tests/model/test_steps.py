"""Steps of panic() whose mechanics are not covered by a seed test: panic_print's timer dump
and the lock it takes (kernel/time/timer_list.c print_active_timers, 6.1)."""

from __future__ import annotations

import pytest

from panicpath.engine import simulate
from panicpath.model.scenario import Scenario
from panicpath.model.steps import HRTIMER_LOCK

HELD = f"lock-held-by-stopped-cpu={HRTIMER_LOCK}"


def _run(arch: str = "x86_64", post: str = "1", kdump: bool = True, bits: int = 4,
         faults: tuple[str, ...] = (HELD,), policy: str = "linux-6.1") -> Scenario:
    return Scenario(policy=policy, arch=arch, kdump=kdump, faults=faults,
                    params=(("crash_kexec_post_notifiers", post), ("panic_print", str(bits))))


def test_timer_dump_deadlocks_on_a_cpu_the_nmi_shootdown_left_online() -> None:
    """x86 6.1 with post notifiers: crash_smp_send_stop's NMI shootdown stops CPU 1 without
    taking it out of cpu_online_mask; panic_print=0x4 then walks it and spins on its hrtimer
    base lock (the lab's thread=single hang, docs/lab.md). kdump never runs."""
    r = simulate(_run())
    assert r.end == "hang" and HRTIMER_LOCK in r.end_reason
    assert not r.properties["vmcore-captured"] and not r.properties["path-bounded"]
    hang = [e for e in r.trace if e.kind == "hang"]
    assert hang and hang[0].event == "panic_print_sys_info"


def test_post_notifiers_without_a_crash_kernel_still_use_the_nmi_shootdown() -> None:
    """kernel/panic.c panic() (6.1): with crash_kexec_post_notifiers the other CPUs are
    stopped by crash_smp_send_stop() whether or not a crash kernel is loaded, so they stay
    online and the timer dump deadlocks there too."""
    r = simulate(_run(kdump=False))
    assert r.end == "hang" and HRTIMER_LOCK in r.end_reason


@pytest.mark.parametrize(("what", "kw"), [
    ("kdump first: panic_print is never reached", {"post": "0"}),
    ("no crash kernel, no post notifiers: smp_send_stop takes CPU 1 offline, the dump "
     "skips it", {"kdump": False, "post": "0"}),
    ("no timer bit", {"bits": 0x1}),
    ("nobody holds the lock", {"faults": ()}),
    ("before panic_print existed (v5.0)", {"policy": "linux-4.9"}),
])
def test_timer_dump_is_harmless(what: str, kw: dict[str, object]) -> None:
    r = simulate(_run(**kw))  # type: ignore[arg-type]
    assert r.end != "hang", what
    assert r.properties["path-bounded"], what


def test_the_fault_without_argument_includes_the_timer_lock() -> None:
    """`lock-held-by-stopped-cpu` without an argument holds every lock the panic path takes,
    the timer dump's too."""
    r = simulate(_run(faults=("lock-held-by-stopped-cpu",)))
    assert r.end == "hang" and HRTIMER_LOCK in r.end_reason


def _ppc_corrupt_after_first(policy: str) -> tuple[tuple[str, ...], list[str], str]:
    from panicpath.model.callback import Callback, Effect

    first = Callback(name="first", list="panic_notifier_list", priority=200, order=100,
                     effects=(Effect("print", "LABPANIC notifier first"),))
    second = Callback(name="second", list="panic_notifier_list", priority=100, order=101,
                      effects=(Effect("print", "LABPANIC notifier second"),))
    r = simulate(Scenario(policy=policy, arch="powerpc", kdump=True,
                          user_callbacks=(first, second),
                          params=(("crash_kexec_post_notifiers", "1"),),
                          faults=("corrupted-notifier-list=first",)))
    return r.console, [e.event for e in r.trace], r.end


def test_the_oops_on_a_corrupted_list_flushes_deferred_printk_until_6_5() -> None:
    """ppc64el 6.1 portable_corrupted_list_post (docs/lab.md): after powerpc's
    crash_kexec_prepare() deferred printk, 'first' runs, its next pointer faults, and the
    oops's bust_spinlocks(0) -> console_unblank() -> console_unlock() prints 'first'
    (lib/bust_spinlocks.c, kernel/printk/printk.c 6.1.192); from 6.6 (7b23a66db55e)
    console_unblank() returns without an unblank() console and 'first' stays in the
    buffer. Either way the CPU never returns: 'second' never runs."""
    console, events, end = _ppc_corrupt_after_first("linux-6.1")
    assert "LABPANIC notifier first" in console and end == "hang"
    assert events.index("console_unblank") > events.index("first")
    assert "LABPANIC notifier second" not in console
    console, events, end = _ppc_corrupt_after_first("linux-6.6")
    assert "LABPANIC notifier first" not in console and end == "hang"
    assert "console_unblank" not in events
