"""Linux 6.3: the all-CPU backtrace moves before the CPU stop (panic_other_cpus_shutdown).

Piccoli's "panic: Fixes the panic_print NMI backtrace setting" (v5 posted 2023-02-26,
Msg-Id 20230226160838.414257-1-gpiccoli@igalia.com; merged for v6.3, backported to
6.2.3 and 6.1.y): panic_other_cpus_shutdown(post) takes the panic_print 0x40
backtrace, then calls crash_smp_send_stop() or smp_send_stop(). The Hyper-V
notifiers have their untangled form since v6.2 (d786e00d19f9, 1d044ca035dc).
"""

from panicpath.policies.base import Policy
from panicpath.policies.linux_6_1 import FEATURES, PROGRAM

POLICY = Policy(
    name="linux-6.3",
    version=(6, 3),
    title="Linux 6.3: panic_other_cpus_shutdown (backtrace before the stop)",
    program=PROGRAM,
    features=FEATURES,
    sources=("Msg-Id 20230226160838.414257-1-gpiccoli@igalia.com (v6.3)",
             "commit d786e00d19f9 (v6.2, Hyper-V untangle)"),
)
