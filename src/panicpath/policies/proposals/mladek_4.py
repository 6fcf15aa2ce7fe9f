"""mladek-4: "Create one more notifier list for operations that always should be called
before crash_dump" (seed 000, Petr Mladek's solution 4; Baoquan He: "I would vote for 1 or 4
... and prefer 4", e.g. "the one on HyperV to terminate VMbus connection").

Starts from linux-6.1. Changes: the lists split as the series does (patches 19-22) with
kdump first by default (as solution 1), plus one more notifier list, `panic_pre_kdump_list`,
walked on every panic right after the other CPUs are stopped and before anything else --
Mladek left open "whether it would be always called even before hypervisor list or when
kdump is not enabled"; this encoding answers "always" to both. On it: hyperv_fb, the VMbus
unload and bcm_vk's DMA stop (common.MUST_PRECEDE_KDUMP: seeds 000, 002, 004), with their
priorities (hyperv_fb at INT_MIN + 10 before the unload at INT_MIN + 1). Hyper-V no longer
forces crash_kexec_post_notifiers (its unload no longer needs it); fadump keeps forcing it
(it is the dump, not something to run before one). Objection: the list runs before kdump on
every configuration, and is a list (seed 000, Biederman: fragile under memory corruption).
"""

from __future__ import annotations

from panicpath.policies.proposals.mladek import kdump_first_unless_post, mladek_policy

PRE_KDUMP = "panic_pre_kdump_list"

POLICY = mladek_policy("mladek-4", "Mladek solution 4: one more list always run before kdump",
                       __doc__, kdump_first_unless_post,
                       unforced=frozenset({"hyperv-report-panic"}), pre_kdump=PRE_KDUMP)
