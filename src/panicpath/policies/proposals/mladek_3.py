"""mladek-3: "Remove the possibility to call kdump first completely" (seed 000, Petr
Mladek's solution 3).

Starts from linux-6.1. Changes: the lists split as the series does (patches 19-22), drivers
placed as the seeds' reviewers asked (common.SEED_PLACEMENT); the hypervisor and info lists
(with panic_print and kmsg_dump) always run before kdump, whatever the command line says
(panic_notifiers_level is not read); only the pre_reboot list waits for kdump, unless
crash_kexec_post_notifiers runs it first too; Hyper-V and fadump stop forcing the parameter
(patches 26/27). Objection (seed 000, Baoquan He): "Solution 3 leaves people space to make
mistake, they could add nontifier into wrong list"; and Eric Biederman: notifier lists are
"fundamentally fragile in the face of memory corruption" -- here a list is always walked
before kdump.
"""

from __future__ import annotations

from panicpath.model.run import Run
from panicpath.policies.proposals.common import HYP, INFO
from panicpath.policies.proposals.mladek import ALL, mladek_policy


def before(run: Run) -> frozenset[str]:
    """Hypervisor and info always; pre_reboot too with crash_kexec_post_notifiers."""
    if run.machine.post_notifiers_snapshot:
        return ALL
    return frozenset({HYP, INFO})


POLICY = mladek_policy(
    "mladek-3", "Mladek solution 3: hypervisor and info lists always before kdump", __doc__,
    before, unforced=frozenset({"hyperv-report-panic", "fadump"}))
