"""Petr Mladek's four solutions (seed 000), shared by mladek_1 .. mladek_4.

All four start from linux-6.1 (Debian 6.1.192, the kernel the lab boots: the series was
based on 5.18-rc4 and its merged parts are in 6.1.192) with the panic notifier list split
as Piccoli's series does (hypervisor / info / pre_reboot / post_reboot, patches 19-22)
and the drivers placed as the reviewers in the seeds asked (common.SEED_PLACEMENT). They
differ only in which lists run before kdump by default, which is what Mladek's mail
(seed 000, "I see four possible solutions", 24/05/2022, his reply to patch 19,
https://lore.kernel.org/lkml/YoyRo6gJrr4lsFpD@alley/) is about.
"""

from __future__ import annotations

from collections.abc import Callable

from panicpath.model.run import Run
from panicpath.policies.base import Policy
from panicpath.policies.linux_6_1 import FEATURES
from panicpath.policies.proposals.common import (
    HYP,
    INFO,
    MUST_PRECEDE_KDUMP,
    PRE,
    SEED_000,
    SEED_PLACEMENT,
    SERIES,
    SPLIT_LISTS,
    split_place,
    split_program,
    split_steps,
    unforce,
)

VERSION = (6, 1)
BASE = "linux-6.1"
MAIL = "https://lore.kernel.org/lkml/YoyRo6gJrr4lsFpD@alley/ (Mladek, 2022-05-24)"
SOURCES = (f"{SEED_000}: Petr Mladek, 'I see four possible solutions'", MAIL, SERIES)
FEATURES_SPLIT = FEATURES | {"split_panic_lists"}
ALL = frozenset({HYP, INFO, PRE})
UNFORCE_WHY = (f"{SEED_000} (Piccoli: Hyper-V and PowerPC force the parameter); series "
               "patches 26/27 'Do not force all panic notifiers to execute before kdump'")


def kdump_first_unless_post(run: Run) -> frozenset[str]:
    """Solutions 1 and 4: kdump first by default; crash_kexec_post_notifiers (kept) still
    runs every list before kdump."""
    return ALL if run.machine.post_notifiers_snapshot else frozenset()


def mladek_policy(name: str, title: str, doc: str | None,
                  before: Callable[[Run], frozenset[str]], *,
                  unforced: frozenset[str] = frozenset(), pre_kdump: str = "",
                  params: tuple[str, ...] = (),
                  param_space: tuple[tuple[str, tuple[str, ...]], ...] = ()) -> Policy:
    """One of the four solutions: linux-6.1 with the split lists and SEED_PLACEMENT, `before`
    choosing the lists that run before kdump; `unforced` drivers stop forcing
    crash_kexec_post_notifiers; `pre_kdump` names an extra list, always run before kdump,
    that takes the callbacks which must precede it (solution 4)."""
    moved = dict.fromkeys(MUST_PRECEDE_KDUMP, pre_kdump) if pre_kdump else None
    return Policy(
        name=name,
        version=VERSION,
        title=title,
        program=split_program(pre_kdump),
        features=FEATURES_SPLIT,
        sources=SOURCES,
        doc=doc or "",
        base=BASE,
        kind="proposal",
        catalog_version=(6, 3),
        steps=split_steps(before, pre_kdump),
        place=split_place(SEED_PLACEMENT, moved_to=moved),
        setup=unforce(unforced, UNFORCE_WHY) if unforced else None,
        lists=(*SPLIT_LISTS, pre_kdump) if pre_kdump else SPLIT_LISTS,
        params=params,
        param_space=param_space,
    )
