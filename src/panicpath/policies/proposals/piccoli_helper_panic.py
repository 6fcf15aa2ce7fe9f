"""piccoli-helper-panic: Piccoli's approach (1) (seed 000): "a helper function in the
'beginning' of panic path, i.e., after the logic to disable preemption/IRQs/secondary CPUs,
but *before* kdump ... users like Hyper-V ... would run their callbacks from there,
directly, no lists involved."

Starts from linux-6.1. Changes: after panic()'s entry the other CPUs are stopped the kdump
way (crash_smp_send_stop, registers saved), then the helper calls hyperv_fb, the VMbus
unload and bcm_vk's DMA stop directly, in that order (common.MUST_PRECEDE_KDUMP: seeds 000,
002, 004) on every panic, kdump or not; those three leave the panic notifier list; the rest
of panic() is 6.1's. Hyper-V stops forcing crash_kexec_post_notifiers. Cons in the seed:
header issues, and callbacks full of conditionals for arch / kdump-only needs. No patch was
posted.
"""

from __future__ import annotations

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY
from panicpath.policies.proposals.common import SEED_000, calls, copy_to
from panicpath.policies.proposals.helpers import (
    BASE,
    FEATURES,
    PROGRAM,
    THREAD,
    UNFORCE_HYPERV,
    VERSION,
)

HELPER = "panic_helper"

POLICY = Policy(
    name="piccoli-helper-panic",
    version=VERSION,
    title="Piccoli (1): helper called directly in panic() before kdump, no list",
    program=(*ENTRY, Op("crash_smp_send_stop"), Op(HELPER), *PROGRAM[len(ENTRY):]),
    features=FEATURES,
    sources=(f"{SEED_000}: Piccoli, approach (1)", THREAD),
    doc=__doc__ or "",
    base=BASE,
    kind="proposal",
    catalog_version=(6, 3),
    steps={HELPER: calls(HELPER)},
    place=copy_to(HELPER, keep=False),
    setup=UNFORCE_HYPERV,
    lists=(HELPER,),
)
