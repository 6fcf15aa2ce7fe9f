"""Linux 4.9: crash_smp_send_stop() replaces smp_send_stop() when post notifiers are on.

0ee59413c967 ("x86/panic: replace smp_send_stop() with kdump friendly version in
panic path", Hidehiro Kawai, v4.9 — seed 003's patch, renamed from
panic_smp_send_stop): with post notifiers panic() calls crash_smp_send_stop()
(x86: NMI shootdown with registers saved) and machine_crash_shutdown's own call
becomes a no-op; without, smp_send_stop() after __crash_kexec returned. The MIPS
companion patch adds crash_smp_send_stop with the Octeon `_crash_smp_send_stop`
hook that stops the watchdogs while the CPUs are still online (Problem 1).
"""

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, KDUMP_FIRST_UNLESS_POST, KDUMP_LAST_IF_POST, TAIL

POLICY = Policy(
    name="linux-4.9",
    version=(4, 9),
    title="Linux 4.9: crash_smp_send_stop with post notifiers",
    program=(*ENTRY, KDUMP_FIRST_UNLESS_POST, Op("smp_send_stop", "!post"),
             Op("crash_smp_send_stop", "post"), Op("notifier_chain"), Op("kmsg_dump"),
             KDUMP_LAST_IF_POST, *TAIL),
    features=frozenset({"post_notifiers_option", "crash_smp_send_stop",
                        "mips_crash_smp_send_stop", "printk_nmi_deferred"}),
    sources=("commit 0ee59413c967 (v4.9)", "commit 7bbee5ca3896 (v4.5, __crash_kexec)",
             "arch/mips/kernel/crash.c crash_smp_send_stop (v4.9)"),
)
