"""mladek-1: "keep the current behavior and call kdump first by default" (seed 000, Petr
Mladek's solution 1, in his reply to patch 19 of Piccoli's series).

Starts from linux-6.1. Changes: the panic notifier list is split as the series does
(hypervisor, info, pre_reboot, post_reboot; patches 19-22) with the drivers where the
seeds' reviewers put them (common.SEED_PLACEMENT: VMbus unload, hyperv_fb and bcm_vk on
the hypervisor list); the default stays kdump first; crash_kexec_post_notifiers keeps its
meaning (all lists before kdump); Hyper-V and fadump keep forcing it (nothing else
changes, which is the point of solution 1). Seed 000 (Baoquan He): "I would vote for 1 or
4 without any hesitation".
"""

from __future__ import annotations

from panicpath.policies.base import Policy
from panicpath.policies.proposals.common import (
    SEED_PLACEMENT,
    SPLIT_LISTS,
    split_place,
    split_program,
    split_steps,
)
from panicpath.policies.proposals.mladek import (
    BASE,
    FEATURES_SPLIT,
    SOURCES,
    VERSION,
    kdump_first_unless_post,
)

POLICY = Policy(
    name="mladek-1",
    version=VERSION,
    title="Mladek solution 1: split lists, kdump first by default",
    program=split_program(),
    features=FEATURES_SPLIT,
    sources=SOURCES,
    doc=__doc__ or "",
    base=BASE,
    kind="proposal",
    catalog_version=(6, 3),
    steps=split_steps(kdump_first_unless_post),
    place=split_place(SEED_PLACEMENT),
    lists=SPLIT_LISTS,
)
