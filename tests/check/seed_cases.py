"""The seed claims that are about *some* fault or fault combination, as checker questions.

Each case is (id, citation, question, minimal faults): the checker must find a counterexample
with exactly the named faults (by fault name, the victim or callback after ``=`` aside) and
none with fewer; ``None`` means the property holds on the whole space with up to
``question.max_faults`` faults. Used by test_seed_claims.py (the checker) and
test_promela.py (SPIN must reach the same verdict on every case).
"""

from __future__ import annotations

from dataclasses import dataclass

from panicpath.check.search import Question

BARE = {"hypervisors": ("none",), "driver_sets": ((),)}


@dataclass(frozen=True)
class SeedCase:
    """A seed claim, the checker question that tests it and the minimal faults expected."""

    id: str
    cite: str
    question: Question
    faults: tuple[str, ...] | None


def _q(**kw: object) -> Question:
    return Question(**kw)  # type: ignore[arg-type]


CASES: tuple[SeedCase, ...] = (
    SeedCase("corrupted-list-with-post-notifiers",
             "seed 000 (Petr Mladek): with crash_kexec_post_notifiers a broken notifier "
             "list keeps kdump from running",
             _q(policy="linux-6.1", prop="vmcore-captured", arches=("x86_64",),
                post_notifiers=("1",), max_faults=2, **BARE),
             ("corrupted-notifier-list",)),
    SeedCase("corrupted-list-kdump-first",
             "seed 000: kdump first is immune to the notifier list's state",
             _q(policy="linux-6.1", prop="vmcore-captured", arches=("x86_64",),
                post_notifiers=("0",), max_faults=2, **BARE),
             None),
    SeedCase("crazy-callback-with-post-notifiers",
             "seed 000: a crazy callback that never returns blocks kdump once notifiers run "
             "first",
             _q(policy="linux-6.1", prop="vmcore-captured", arches=("x86_64",),
                post_notifiers=("1",), fault_names=("hanging-callback",), max_faults=2,
                **BARE),
             ("hanging-callback",)),
    SeedCase("bcm-vk-dma-kdump-first",
             "seed 002 (bcm_vk): a card left doing DMA scribbles over the vmcore unless its "
             "notifier stops it before kdump",
             _q(policy="linux-6.1", prop="vmcore-intact", arches=("x86_64",),
                hypervisors=("none",), driver_sets=(("bcm-vk",),), post_notifiers=("0",),
                max_faults=1),
             ("dma-active",)),
    SeedCase("bcm-vk-dma-post-notifiers",
             "seed 002: with the notifier before kdump the DMA is stopped in time",
             _q(policy="linux-6.1", prop="vmcore-intact", arches=("x86_64",),
                hypervisors=("none",), driver_sets=(("bcm-vk",),), post_notifiers=("1",),
                max_faults=2),
             None),
    SeedCase("slow-host-unbounded-path",
             "seed 001 (Michael Kelley): the host may take minutes to answer the VMbus unload",
             _q(policy="linux-6.1", prop="path-bounded", arches=("x86_64",),
                hypervisors=("hyperv",), fault_names=("slow-host",), max_faults=1),
             ("slow-host",)),
    SeedCase("octeon-watchdogs-3.16",
             "seed 003 Problem 1: smp_send_stop offlines the CPUs before "
             "octeon_generic_shutdown, so their watchdogs stay armed; no fault needed",
             _q(policy="linux-3.16", prop="watchdog-quiesced", arches=("mips-octeon",),
                hypervisors=("none",), post_notifiers=("1",), max_faults=1),
             ()),
    SeedCase("octeon-watchdogs-4.9",
             "seed 003 Problem 1, fixed by crash_smp_send_stop (v4.9)",
             _q(policy="linux-4.9", prop="watchdog-quiesced", arches=("mips-octeon",),
                hypervisors=("none",), post_notifiers=("1",), max_faults=2),
             None),
    SeedCase("registers-lost-3.16",
             "seed 003 Problem 2: smp_send_stop before machine_crash_shutdown loses the other "
             "CPUs' registers; no fault needed",
             _q(policy="linux-3.16", prop="vmcore-complete", arches=("x86_64",),
                post_notifiers=("1",), max_faults=1, **BARE),
             ()),
    SeedCase("registers-kept-4.9",
             "seed 003 Problem 2, fixed by crash_smp_send_stop (v4.9)",
             _q(policy="linux-4.9", prop="vmcore-complete", arches=("x86_64",),
                post_notifiers=("1",), max_faults=2, **BARE),
             None),
    SeedCase("deaf-cpu-arm64",
             "seed 003 (Dave Young): a CPU spinning with interrupts off ignores the stop IPI "
             "on arm64, so its registers are missing",
             _q(policy="linux-6.1", prop="vmcore-complete", arches=("arm64",),
                post_notifiers=("1",), fault_names=("ipi-deaf-cpu",), max_faults=2, **BARE),
             ("ipi-deaf-cpu",)),
    SeedCase("deaf-cpu-x86-nmi",
             "seed 003: x86's NMI reaches a CPU with interrupts off",
             _q(policy="linux-6.1", prop="vmcore-complete", arches=("x86_64",),
                post_notifiers=("1",), fault_names=("ipi-deaf-cpu",), max_faults=2, **BARE),
             None),
    SeedCase("hyperv-fb-lock-5.18",
             "seed 004: before 6.1 hyperv_fb's panic notifier took the VMbus ring lock with "
             "spin_lock and deadlocked when a stopped CPU held it",
             _q(policy="linux-5.18", prop="path-bounded", arches=("x86_64",),
                hypervisors=("hyperv",), driver_sets=(("hyperv-fb",),),
                fault_names=("lock-held-by-stopped-cpu",), max_faults=1),
             ("lock-held-by-stopped-cpu",)),
    SeedCase("hyperv-fb-lock-6.1",
             "seed 004: 6.1's hyperv_fb uses spin_trylock and skips the update",
             _q(policy="linux-6.1", prop="path-bounded", arches=("x86_64",),
                hypervisors=("hyperv",), driver_sets=(("hyperv-fb",),),
                fault_names=("lock-held-by-stopped-cpu",), max_faults=2),
             None),
    SeedCase("arm64-hyperv-slow-unload-loses-disk",
             "seeds 001/004: on arm64 the unload runs from the panic notifier; a host slower "
             "than the unload timeout leaves the VMbus connected and the capture kernel "
             "cannot reach its disk",
             _q(policy="linux-6.1", prop="dump-target-reachable", arches=("arm64",),
                hypervisors=("hyperv",), max_faults=1),
             ("slow-host",)),
    SeedCase("nmi-panic-console-two-faults",
             "lab nmi_panic.log + seed 000: a panic in NMI context defers printk to the final "
             "flush; a broken notifier list as well keeps the message off the console from "
             "6.6 (7b23a66db55e: the oops's console_unblank() returns in NMI context)",
             _q(policy="linux-6.6", prop="console-shows-panic", arches=("x86_64",),
                kdump=(False,), post_notifiers=("0",), max_faults=2, **BARE),
             ("corrupted-notifier-list", "nmi-context")),
    SeedCase("nmi-panic-console-oops-flushes",
             "lab nmi_panic.log + ppc64el portable_corrupted_list_post: up to 6.5 the oops on "
             "a broken list flushes the deferred message (lib/bust_spinlocks.c "
             "bust_spinlocks(0) -> console_unblank(), 6.1); only a callback that never "
             "returns keeps it off the console",
             _q(policy="linux-6.1", prop="console-shows-panic", arches=("x86_64",),
                kdump=(False,), post_notifiers=("0",), max_faults=2, **BARE),
             ("hanging-callback", "nmi-context")),
    SeedCase("concurrent-panic-arm64",
             "kernel-facts section 2: on arm64 the CPU that loses the panic race parks "
             "offline and its registers are never saved",
             _q(policy="linux-6.1", prop="vmcore-complete", arches=("arm64",),
                fault_names=("concurrent-panic",), max_faults=2, **BARE),
             ("concurrent-panic",)),
)
