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

from panicpath.policies.proposals.mladek import kdump_first_unless_post, mladek_policy

POLICY = mladek_policy("mladek-1", "Mladek solution 1: split lists, kdump first by default",
                       __doc__, kdump_first_unless_post)
