"""piccoli-filter: `panic_notifier_filter=a,b,...` (Guilherme Piccoli, "[PATCH V4]
notifier/panic: Introduce panic_notifier_filter", 2022-01-08,
https://lore.kernel.org/lkml/20220108153451.195121-1-gpiccoli@igalia.com/; the thread that
led to the list split of seed 000, Mladek: https://lore.kernel.org/lkml/YfPxvzSzDLjO5ldp@alley/).

Starts from linux-6.1 (the patch was against 5.17-rc; 6.1 keeps the comparison with the other
2022 proposals about the filter alone). Changes: once at least one valid callback name is
given, atomic_notifier_chain_register() (kernel/notifier.c as patched) refuses every
panic_notifier_list registration not named in the list -- including a "nonsense callback"
slipped in later (seed 000, Piccoli (a)); at most 16 names; invalid names are discarded;
kmsg dumpers and other chains are untouched; without the parameter nothing changes. The
model applies the filter at the start of panic(), which is equivalent: nothing runs the list
before. Not merged (Mladek: "almost unusable").
"""

from __future__ import annotations

from panicpath.catalog import DRIVERS
from panicpath.model.params import PARAMS
from panicpath.model.run import Run
from panicpath.policies.base import Op, Policy
from panicpath.policies.kernels import ENTRY
from panicpath.policies.linux_6_1 import FEATURES, PROGRAM
from panicpath.policies.proposals.common import MUST_PRECEDE_KDUMP, SEED_000

MAX_NAMES = PARAMS["panic_notifier_filter"].max_items
"""The patch's limit on the number of names (declared with the parameter: model/params.py)."""
FILTER_PATCH = ("https://lore.kernel.org/lkml/20220108153451.195121-1-gpiccoli@igalia.com/ "
                "(panic_notifier_filter V4, kernel/notifier.c atomic_notifier_chain_register)")


def panic_notifier_filter(run: Run) -> None:
    """Drop the panic notifiers whose names are not in `panic_notifier_filter=`."""
    raw = run.scenario.param("panic_notifier_filter") or ""
    known = {c.name for d in DRIVERS.values() for c in d.callbacks}
    known |= {c.name for c in run.notifiers}
    names = [n.strip() for n in raw.split(",") if n.strip()][:MAX_NAMES]
    valid = [n for n in names if n in known]
    if not valid:
        return
    kept = tuple(c for c in run.notifiers if c.name in valid)
    dropped = [c.name for c in run.notifiers if c.name not in valid]
    run.notifiers = kept
    run.emit("panic_notifier_filter", "step",
             f"registered only {', '.join(c.name for c in kept) or 'none'}; refused "
             f"{', '.join(dropped) or 'none'}", FILTER_PATCH)


POLICY = Policy(
    name="piccoli-filter",
    version=(6, 1),
    title="Piccoli Jan 2022: panic_notifier_filter= keeps only the named panic notifiers",
    program=(*ENTRY, Op("panic_notifier_filter"), *PROGRAM[len(ENTRY):]),
    features=FEATURES,
    sources=(FILTER_PATCH, f"{SEED_000}: Piccoli (a), callbacks slipped into the list"),
    doc=__doc__ or "",
    base="linux-6.1",
    kind="proposal",
    catalog_version=(6, 3),
    steps={"panic_notifier_filter": panic_notifier_filter},
    params=("panic_notifier_filter",),
    param_space=(("panic_notifier_filter", ("", ",".join(MUST_PRECEDE_KDUMP))),),
)
