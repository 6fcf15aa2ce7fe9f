"""kawai-2016: Hidehiro Kawai's v3 patch "panic_smp_send_stop" as posted, July 2016 (seed
003: "[PATCH v3] ... replace smp_send_stop() with kdump friendly version in panic path" and
Dave Young's review; https://lkml.org/lkml/2015/6/24/44 is the report it fixes).

Starts from Linux 4.7 (the tree the patch was posted against: 3.16's order, with
crash_kexec_post_notifiers and smp_send_stop before the notifiers). Changes, as posted:
panic() calls `panic_smp_send_stop()` instead of smp_send_stop(), with or without
crash_kexec_post_notifiers; it is a weak function (smp_send_stop() once) and only x86
overrides it (NMI shootdown saving registers, then disable_local_APIC, once);
native_machine_crash_shutdown() calls it too, so with post notifiers the shootdown happens
before the notifiers and the kdump path's call is a no-op (Problem 2 fixed on x86). No other
architecture gets an override and there is no MIPS hook: Problem 1 (Octeon watchdogs) stays
("It does not fix the Problem 1", Dave Young). What was merged in v4.9 (0ee59413c967,
policy linux-4.9) differs: renamed crash_smp_send_stop, used only with post notifiers
(smp_send_stop otherwise, as Kawai agreed in this thread), plus the MIPS companion patch.
Not modelled: "my patch breaks Xen kernel" (Xen PV).
"""

from __future__ import annotations

from panicpath.arch.base import Arch
from panicpath.model.run import Run
from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, KDUMP_FIRST_UNLESS_POST, KDUMP_LAST_IF_POST, TAIL
from panicpath.policies.proposals.common import SEED_003


def panic_smp_send_stop(run: Run) -> None:
    """kernel/panic.c weak panic_smp_send_stop() of the v3 patch (smp_send_stop() once), and
    its only override, arch/x86/kernel/crash.c (NMI shootdown with registers saved, once)."""
    if run.arch.name == "x86_64":
        run.arch.crash_smp_send_stop(run)
    else:
        Arch.crash_smp_send_stop(run.arch, run)


POLICY = Policy(
    name="kawai-2016",
    version=(4, 7),
    title="Kawai 2016 v3 as posted: panic_smp_send_stop always, x86 override only",
    program=(*ENTRY, KDUMP_FIRST_UNLESS_POST, Op("panic_smp_send_stop"), Op("notifier_chain"),
             Op("kmsg_dump"), KDUMP_LAST_IF_POST, *TAIL),
    features=frozenset({"post_notifiers_option", "crash_smp_send_stop"}),
    sources=(f"{SEED_003}: the v3 patch and Dave Young's review",
             "commit 0ee59413c967 (v4.9) for what was merged instead"),
    doc=__doc__ or "",
    base="linux-3.16",
    kind="proposal",
    steps={"panic_smp_send_stop": panic_smp_send_stop},
)
