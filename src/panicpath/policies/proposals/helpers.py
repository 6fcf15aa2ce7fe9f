"""What Piccoli's three alternatives (seed 000, "I'd suggest one of the 3 following
approaches") and the crash_shutdown list (seed 002) share: they start from linux-6.1, give
the callbacks that must precede kdump (common.MUST_PRECEDE_KDUMP) another way to run, and
so Hyper-V stops forcing crash_kexec_post_notifiers -- the stated goal: "a simple solution
that doesn't require users to abuse parameters ... (Hyper-V and PowerPC currently force
this parameter to be enabled)". fadump keeps forcing it (its notifier is the dump itself).
"""

from __future__ import annotations

from panicpath.policies.linux_6_1 import FEATURES, PROGRAM
from panicpath.policies.proposals.common import SEED_000, unforce

VERSION = (6, 1)
BASE = "linux-6.1"
THREAD = ("https://lore.kernel.org/lkml/0d084eed-4781-c815-29c7-ac62c498e216@igalia.com/ "
          "(Piccoli's summary of conflicting views, 2022-05-24 = seed 000)")
UNFORCE_HYPERV = unforce(frozenset({"hyperv-report-panic"}),
                         f"{SEED_000} (Piccoli: no parameter abuse; Hyper-V's unload now "
                         "runs before kdump without it)")
__all__ = ["BASE", "FEATURES", "PROGRAM", "THREAD", "UNFORCE_HYPERV", "VERSION"]
