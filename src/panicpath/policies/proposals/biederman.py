"""biederman: "Notifiers before kexec on panic are fundamentally broken. So please just
remove crash_kexec_post notifiers and be done with it." (seed 000, Eric W. Biederman,
24/05/2022, refreshing his NACK.)

Starts from linux-6.1. Changes: crash_kexec_post_notifiers no longer exists (the boot
parameter is unknown, and the drivers that force it -- Hyper-V, fadump, SEV-SNP -- cannot),
so __crash_kexec always comes first and no notifier or kmsg dumper ever runs before kdump.
Objections in the seeds: users "require to execute some special code before kdump" (seed
000, Piccoli point (I)): the VMbus unload on arm64 (seeds 001, 004) and bcm_vk's DMA stop
(seed 002) then never run before kdump. Not done: the parameter is still in mainline.
"""

from __future__ import annotations

from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY, TAIL
from panicpath.policies.linux_6_1 import FEATURES
from panicpath.policies.proposals.common import SEED_000

POLICY = Policy(
    name="biederman",
    version=(6, 1),
    title="Biederman: remove crash_kexec_post_notifiers, kdump always first",
    program=(*ENTRY, Op("crash_kexec"), Op("panic_other_cpus_shutdown"), Op("notifier_chain"),
             Op("panic_print_sys_info"), Op("kmsg_dump"), *TAIL),
    features=FEATURES - {"post_notifiers_option"},
    sources=(f"{SEED_000}: Eric W. Biederman, NACK", "kernel/panic.c 6.1.192 panic() minus "
             "crash_kexec_post_notifiers"),
    doc=__doc__ or "",
    base="linux-6.1",
    kind="proposal",
    catalog_version=(6, 3),
)
