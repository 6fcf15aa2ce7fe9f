"""Linux 5.0: panic_print arrives, printed at the very end (after any post-notifier kdump).

d999bd9392de ("panic: add options to print system info when panic happens", Feng
Tang, v5.0): panic_print_sys_info() is called after console_flush_on_panic(), so
with kdump its output is never printed and never reaches a kmsg dumper.
"""

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, KDUMP_FIRST_UNLESS_POST, KDUMP_LAST_IF_POST

POLICY = Policy(
    name="linux-5.0",
    version=(5, 0),
    title="Linux 5.0: panic_print after the console flush",
    program=(*ENTRY, KDUMP_FIRST_UNLESS_POST, Op("smp_send_stop", "!post"),
             Op("crash_smp_send_stop", "post"), Op("notifier_chain"), Op("kmsg_dump"),
             KDUMP_LAST_IF_POST, Op("console_flush_on_panic"), Op("panic_print_sys_info"),
             Op("panic_timeout")),
    features=frozenset({"post_notifiers_option", "crash_smp_send_stop",
                        "mips_crash_smp_send_stop", "printk_nmi_deferred"}),
    sources=("commit d999bd9392de (v5.0)",),
)
