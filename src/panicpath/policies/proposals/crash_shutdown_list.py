"""crash-shutdown-list: "what if we have another list, but not on panic path, but instead in
the custom crash_shutdown()? Drivers could add callbacks there that must execute before
kexec/kdump, no matter what." (seed 002, Piccoli's reply to Scott Branden on patch 19.)

Starts from linux-6.1. Changes: a notifier list run from machine_crash_shutdown() on every
architecture, arm64 included (kdump path only, with the other CPUs still running, before the
arch stops them); hyperv_fb, the VMbus unload and bcm_vk's DMA stop
(common.MUST_PRECEDE_KDUMP: seeds 000, 002, 004) register there with their priorities, and
stay on the panic notifier list too -- Scott Branden: "for our use we would then need to
register for the panic path and the crash_shutdown path". Hyper-V stops forcing
crash_kexec_post_notifiers. It is a notifier list, walked on every kdump (seed 000,
Biederman: lists are fragile under memory corruption). No patch was posted.
"""

from __future__ import annotations

from panicpath.model.steps import run_list
from panicpath.policies.base import Policy
from panicpath.policies.proposals.common import SEED_000, SEED_002, both, copy_to, hook
from panicpath.policies.proposals.helpers import (
    BASE,
    FEATURES,
    PROGRAM,
    UNFORCE_HYPERV,
    VERSION,
)

LIST = "crash_shutdown_list"
THREAD_002 = ("https://lore.kernel.org/lkml/20220427224924.592546-20-gpiccoli@igalia.com/ "
              "(patch 19 thread, Scott Branden / Piccoli, May 2022 = seed 002)")

POLICY = Policy(
    name="crash-shutdown-list",
    version=VERSION,
    title="A driver notifier list run from machine_crash_shutdown on every arch",
    program=PROGRAM,
    features=FEATURES,
    sources=(f"{SEED_002}: Piccoli's reply to Scott Branden", THREAD_002,
             f"{SEED_000}: Biederman on list fragility"),
    doc=__doc__ or "",
    base=BASE,
    kind="proposal",
    catalog_version=(6, 3),
    place=copy_to(LIST, ordered=False),
    setup=both(UNFORCE_HYPERV, hook("before_machine_crash_shutdown", run_list(LIST))),
    lists=(LIST,),
)
