"""piccoli-helper-kexec: Piccoli's approach (2) (seed 000): "a helper in the kexec core
code, not in the panic path ... users that require running stuff *before a kdump* would add
direct calls there; if kdump isn't configured ... they'd need to also add a callback to some
notifier list."

Starts from linux-6.1. Changes: inside __crash_kexec (kernel/kexec_core.c), once the kexec
lock is taken and a crash image is loaded and before machine_crash_shutdown(), a helper calls
hyperv_fb, the VMbus unload and bcm_vk's DMA stop directly, in that order
(common.MUST_PRECEDE_KDUMP: seeds 000, 002, 004); the three stay on the panic notifier list
too, for panics without kdump (the "code duplicity" con). Hyper-V stops forcing
crash_kexec_post_notifiers. No patch was posted.
"""

from __future__ import annotations

from panicpath.policies.base import Policy
from panicpath.policies.proposals.common import SEED_000, both, calls, copy_to, hook
from panicpath.policies.proposals.helpers import (
    BASE,
    FEATURES,
    PROGRAM,
    THREAD,
    UNFORCE_HYPERV,
    VERSION,
)

HELPER = "kexec_helper"

POLICY = Policy(
    name="piccoli-helper-kexec",
    version=VERSION,
    title="Piccoli (2): helper called directly in __crash_kexec, kdump only",
    program=PROGRAM,
    features=FEATURES,
    sources=(f"{SEED_000}: Piccoli, approach (2)", THREAD),
    doc=__doc__ or "",
    base=BASE,
    kind="proposal",
    catalog_version=(6, 3),
    place=copy_to(HELPER),
    setup=both(UNFORCE_HYPERV, hook("before_machine_crash_shutdown", calls(HELPER))),
    lists=(HELPER,),
)
