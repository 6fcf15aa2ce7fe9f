"""The real kernel's behaviour recorded in ../shared/reference/lab/README.md (Debian
6.1.192 under QEMU), as model runs: linux-6.1, x86_64, pvpanic, the lab's probe module
(notifiers at 200, 0 and -200 registered out of order, and a kmsg dumper)."""

from __future__ import annotations

from panicpath.model.callback import Callback, Effect
from tests.seeds.helpers import POST, events, run

PROBES = (
    Callback(name="probe-0", list="panic_notifier_list", priority=0, order=100,
             effects=(Effect("print", "labpanic: notifier prio 0"),)),
    Callback(name="probe-200", list="panic_notifier_list", priority=200, order=101,
             effects=(Effect("print", "labpanic: notifier prio 200"),)),
    Callback(name="probe-minus-200", list="panic_notifier_list", priority=-200, order=102,
             effects=(Effect("print", "labpanic: notifier prio -200"),)),
    Callback(name="probe-dumper", list="kmsg_dumper", order=103,
             effects=(Effect("print", "labpanic: kmsg dump"),)),
)
PANIC_PRINT = (("panic_print", "0x1"),)


def test_m2_kdump_without_post_notifiers_runs_no_notifier() -> None:
    """lab/logs/mod_cloud-amd64_M2_kdump.log: the stack trace is followed by the crash
    kernel; no notifier, no dumper, no pvpanic event."""
    r = run(drivers=("pvpanic",), user_callbacks=PROBES)
    assert r.ran_callbacks == ()
    assert r.pvpanic_events == ()
    assert r.end == "capture-kernel"


def test_m3_post_notifiers_order() -> None:
    """lab/logs/mod_cloud-amd64_M3_kdump_pn.log: pvpanic (INT_MAX), probe 200, Kernel Offset
    (prio 0, registered at boot), probe 0 (registered later), probe -200, panic_print,
    the kmsg dump, then kexec."""
    r = run(drivers=("pvpanic",), user_callbacks=PROBES, params=POST + PANIC_PRINT)
    ev = [e for e in events(r) if e in (
        "pvpanic", "probe-200", "dump-kernel-offset", "probe-0", "probe-minus-200",
        "panic_print_sys_info", "probe-dumper", "__crash_kexec")]
    assert ev == ["pvpanic", "probe-200", "dump-kernel-offset", "probe-0", "probe-minus-200",
                  "panic_print_sys_info", "probe-dumper", "__crash_kexec"]


def test_pvpanic_event_depends_on_the_crash_kernel() -> None:
    """lab/README: GUEST_CRASHLOADED with a crash kernel and post notifiers; GUEST_PANICKED
    without a crash kernel (drivers/misc/pvpanic/pvpanic.c uses kexec_crash_loaded())."""
    assert run(drivers=("pvpanic",), params=POST).pvpanic_events == ("CRASH_LOADED",)
    assert run(drivers=("pvpanic",), kdump=False,
               host_panic_action="none").pvpanic_events == ("PANICKED",)


def test_m4_default_qemu_action_stops_the_guest_at_pvpanic() -> None:
    """lab/logs/mod_cloud-amd64_M4_nokdump_pvdefault.log: QEMU's default panic action powers
    the VM off at GUEST_PANICKED, before later notifiers print anything."""
    r = run(drivers=("pvpanic",), kdump=False, user_callbacks=PROBES)
    assert r.ran_callbacks == ("pvpanic",)
    assert r.end == "host-stopped"
    m1 = run(drivers=("pvpanic",), kdump=False, user_callbacks=PROBES, host_panic_action="none")
    assert m1.ran_callbacks[-1] == "probe-dumper"
    assert any("end Kernel panic" in line for line in m1.console)


def test_nmi_panic_shows_nothing_on_console_but_the_host_hears() -> None:
    """lab/logs/nmi_panic.log: with kdump and post notifiers an NMI-triggered panic prints
    nothing on the first kernel's console, yet GUEST_CRASHLOADED proves the notifiers ran;
    nmi_panic_ramoops.log: ramoops stored the panic text."""
    r = run(drivers=("pvpanic", "ramoops"), faults=("nmi-context",), params=POST)
    assert not r.properties["console-shows-panic"]
    assert r.pvpanic_events == ("CRASH_LOADED",)
    assert r.persisted_logs == ("ramoops",)
