"""Every proposal in the seeds as a policy: each claimed benefit and each objection raised in
the seeds is a test citing the seed (../shared/seeds/). Outcomes come out of running the
policies; the expectations here are the seeds' claims."""

from __future__ import annotations

import pytest

from panicpath.engine import RunResult, ScenarioError, simulate
from panicpath.inputs import InputError
from panicpath.model.callback import INT_MIN
from panicpath.model.scenario import Scenario
from panicpath.policies import POLICIES
from panicpath.policies.proposals import PROPOSALS

POST = (("crash_kexec_post_notifiers", "1"),)
NAMES = ("mladek-1", "mladek-2", "mladek-3", "mladek-4", "piccoli-helper-panic",
         "piccoli-helper-kexec", "piccoli-arch-hook", "piccoli-levels", "piccoli-filter",
         "biederman", "rutland-defer", "crash-shutdown-list", "kawai-2016")


def run(policy: str, **kw: object) -> RunResult:
    return simulate(Scenario(policy=policy, **kw))  # type: ignore[arg-type]


def events(r: RunResult) -> list[str]:
    return [e.event for e in r.trace]


def before_kdump(r: RunResult) -> list[str]:
    """Callback trace lines before __crash_kexec took over."""
    out = []
    for e in r.trace:
        if e.event == "__crash_kexec" and "crash_setup_regs" in e.effect:
            break
        if e.kind not in ("step", "arch", "capture", "fault", "end", "hang"):
            out.append(e.event)
    return out


def test_all_proposals_registered_with_fixed_names_and_citations() -> None:
    assert tuple(p.name for p in PROPOSALS) == NAMES
    for p in PROPOSALS:
        assert POLICIES[p.name] is p and p.kind == "proposal"
        assert p.program[0].step == "panic_entry"
        assert p.sources and "seeds/" in " ".join(p.sources) + p.doc
        assert p.base in POLICIES


# --- Mladek (seed 000) ---------------------------------------------------------------

def test_mladek_1_keeps_kdump_first_so_bcm_vk_dma_runs_into_the_dump() -> None:
    """Seed 000, solution 1 ('keep the current behavior and call kdump first'); seed 002:
    bcm_vk must stop DMA before kdump -- with kdump first it never runs."""
    r = run("mladek-1", drivers=("bcm-vk",), faults=("dma-active",))
    assert before_kdump(r) == []
    assert not r.properties["vmcore-intact"]


def test_mladek_2_runs_the_hypervisor_list_first_by_default_and_can_restore_kdump_first() -> None:
    """Seed 000, solution 2: hypervisor (and eventually info) notifiers before kdump by
    default, kdump first by a command-line parameter. Hyper-V no longer needs to force
    crash_kexec_post_notifiers, and arm64 still reaches its VMbus disk."""
    r = run("mladek-2", arch="arm64", hypervisor="hyperv")
    assert "crash_kexec_post_notifiers off" in next(e.effect for e in r.trace if e.event == "panic")
    assert "hyperv-vmbus-unload" in before_kdump(r)
    assert r.properties["dump-target-reachable"]
    first = run("mladek-2", drivers=("bcm-vk",), params=(("panic_notifiers_level", "0"),))
    assert before_kdump(first) == []
    assert before_kdump(run("mladek-2", drivers=("bcm-vk",))) == ["bcm-vk"]


def test_mladek_2_regression_a_bad_hypervisor_notifier_now_costs_the_vmcore() -> None:
    """Seed 000, Baoquan He: 'solution 2 will cause regression if not calling kdump firstly'.
    A hypervisor-list callback that hangs (pvpanic here) takes the vmcore with it, where
    linux-6.1 (kdump first) keeps it."""
    kw = {"drivers": ("pvpanic",), "faults": ("hanging-callback=pvpanic",)}
    assert run("linux-6.1", **kw).properties["vmcore-captured"]
    assert not run("mladek-2", **kw).properties["vmcore-captured"]


@pytest.mark.parametrize(("arch", "hv", "drivers"), [
    ("x86_64", "none", ()), ("arm64", "none", ("bcm-vk",)), ("s390", "none", ()),
])
def test_mladek_3_loses_kdump_whenever_a_list_is_corrupted(arch: str, hv: str,
                                                           drivers: tuple[str, ...]) -> None:
    """Seed 000, Baoquan He on solution 3 and Biederman ('any kind of notifier list is
    fundamentally fragile in the face of memory corruption'): with no way to call kdump
    first, a corrupted list loses the vmcore on configurations where 6.1 keeps it; the
    kdump-first parameter does not exist any more."""
    kw = {"arch": arch, "hypervisor": hv, "drivers": drivers,
          "faults": ("corrupted-notifier-list",)}
    assert run("linux-6.1", **kw).properties["vmcore-captured"]
    r = run("mladek-3", **kw)
    assert not r.properties["vmcore-captured"] and r.end == "hang"
    with pytest.raises(InputError, match="policy mladek-3 has no panic_notifiers_level"):
        run("mladek-3", params=(("panic_notifiers_level", "0"),), **kw)


@pytest.mark.parametrize(("arch", "params"), [("x86_64", ()), ("x86_64", POST),
                                              ("arm64", ()), ("arm64", POST)])
def test_mladek_4_runs_its_list_before_kdump_on_every_configuration(
        arch: str, params: tuple[tuple[str, str], ...]) -> None:
    """Seed 000, solution 4: 'one more notifier list for operations that always should be
    called before crash_dump' -- it is walked before kdump whatever the parameters, with the
    VMbus unload and bcm_vk's DMA stop on it (seeds 000/002/004): the arm64 disk is
    reachable and the dump is not written to by the card."""
    r = run("mladek-4", arch=arch, hypervisor="hyperv", params=params)
    ev = events(r)
    walk = next(i for i, e in enumerate(r.trace) if "panic_pre_kdump_list" in e.effect)
    assert walk < ev.index("__crash_kexec")
    assert r.properties["dump-target-reachable"]
    dma = run("mladek-4", arch=arch, drivers=("bcm-vk",), faults=("dma-active",), params=params)
    assert "bcm-vk" in before_kdump(dma) and dma.properties["vmcore-intact"]


def test_mladek_4_list_is_still_a_list() -> None:
    """Seed 000, Biederman: lists are fragile; Mladek: 'We must not over-engineer it'. The
    pre-kdump list is walked on every panic, so a corrupted list loses the vmcore even on a
    bare x86 machine where 6.1 keeps it."""
    assert not run("mladek-4", faults=("corrupted-notifier-list",)).properties["vmcore-captured"]


# --- Piccoli's alternatives (seed 000) and the crash_shutdown list (seed 002) -------------

@pytest.mark.parametrize("policy", ["piccoli-helper-panic", "piccoli-helper-kexec",
                                    "piccoli-arch-hook"])
def test_piccoli_helpers_have_no_list_so_corruption_does_not_reach_them(policy: str) -> None:
    """Seed 000, Piccoli: 'run their callbacks from there, directly, no lists involved' and
    'the list nature is a bit fragile': with Hyper-V no longer forcing post notifiers, a
    corrupted notifier list leaves arm64 Hyper-V's kdump and its disk intact, because the
    unload is a direct call."""
    r = run(policy, arch="arm64", hypervisor="hyperv", faults=("corrupted-notifier-list",))
    assert r.properties["vmcore-captured"] and r.properties["dump-target-reachable"]
    assert "hyperv-vmbus-unload" in r.ran_callbacks


def test_crash_shutdown_list_reaches_arm64_but_is_a_list() -> None:
    """Seed 002, Piccoli: 'another list ... in the custom crash_shutdown() ... that must
    execute before kexec/kdump, no matter what' -- it runs on arm64 too; but it is a notifier
    list walked on the kdump path, so a corrupted list now loses the arm64 vmcore that the
    direct-call helper keeps."""
    ok = run("crash-shutdown-list", arch="arm64", hypervisor="hyperv")
    unload = next(e for e in ok.trace if e.event == "hyperv-vmbus-unload")
    assert unload.kind == "crash_shutdown_list" and ok.properties["dump-target-reachable"]
    bad = run("crash-shutdown-list", arch="arm64", hypervisor="hyperv",
              faults=("corrupted-notifier-list",))
    assert not bad.properties["vmcore-captured"]


@pytest.mark.parametrize("policy", ["piccoli-helper-kexec", "piccoli-arch-hook",
                                    "crash-shutdown-list"])
def test_kdump_only_hooks_need_a_second_registration(policy: str) -> None:
    """Seed 000 (Piccoli, cons of (2) and (3): 'might cause code duplicity') and seed 002
    (Scott Branden: 'we would then need to register for the panic path and the
    crash_shutdown path'): without kdump the hook never runs, only the notifier copy does;
    with kdump it is the hook."""
    no = run(policy, drivers=("bcm-vk",), kdump=False, host_panic_action="none")
    assert [e.kind for e in no.trace if e.event == "bcm-vk"] == ["notifier"]
    yes = run(policy, drivers=("bcm-vk",))
    assert [e.kind for e in yes.trace if e.event == "bcm-vk"] != ["notifier"]
    assert yes.ran_callbacks.count("bcm-vk") == 1


def test_piccoli_helper_panic_runs_on_every_panic() -> None:
    """Seed 000, approach (1): 'users like Hyper-V that require to execute stuff regardless
    of kdump or not would run their callbacks from there' -- once, kdump or not."""
    for kdump in (True, False):
        r = run("piccoli-helper-panic", drivers=("bcm-vk",), kdump=kdump,
                host_panic_action="none")
        assert [e.kind for e in r.trace if e.event == "bcm-vk"] == ["panic_helper"]


def test_piccoli_arch_hook_gives_arm64_a_crash_shutdown_hook() -> None:
    """Seed 000, approach (3) 'a way in arm64 ... analog to the custom
    machine_crash_shutdown()'; seed 001, Rutland: arm64 has none today."""
    r = run("piccoli-arch-hook", arch="arm64", hypervisor="hyperv")
    assert any("new arm64 crash-shutdown hook" in e.effect for e in r.trace)
    assert r.properties["dump-target-reachable"]
    assert not run("linux-6.1", arch="arm64", hypervisor="hyperv", platform_drivers=False,
                   drivers=("hyperv-vmbus-unload",)).properties["dump-target-reachable"]


# --- piccoli-levels: the series as posted (seeds 000, 002, 004) ---------------------------

@pytest.mark.parametrize("params", [(), POST] + [(("panic_notifiers_level", str(n)),)
                                                  for n in range(5)])
def test_patch_16_leaves_arm64_without_the_unload_when_a_crash_kernel_is_loaded(
        params: tuple[tuple[str, str], ...]) -> None:
    """Seed 004, Michael Kelley on patch 16: 'ARM64 has no mechanism to provide such a custom
    function that will eventually do the needed vmbus_initiate_unload() before running
    kdump.' At every level the notifier skips the unload because a crash kernel is loaded:
    arm64 cannot reach its VMbus disk; x86 can (hv_crash_handler)."""
    arm = run("piccoli-levels", arch="arm64", hypervisor="hyperv", params=params)
    assert not arm.properties["dump-target-reachable"]
    assert not any("UNLOAD" in e.effect for e in arm.trace)
    assert run("piccoli-levels", hypervisor="hyperv",
               params=params).properties["dump-target-reachable"]


def test_patch_21_puts_hyperv_fb_after_kdump() -> None:
    """Seed 004, Kelley: 'Patch 21 of this set puts the Hyper-V FB panic notifier on the
    pre_reboot notifier list, which means it won't execute before the VMbus connection
    unload in the case of kdump'. The same scenario with one [[placement]] on the
    hypervisor list (his suggestion) keeps the update."""
    r = run("piccoli-levels", hypervisor="hyperv", drivers=("hyperv-fb",))
    assert not r.properties["fb-shows-panic"]
    moved = run("piccoli-levels", hypervisor="hyperv", drivers=("hyperv-fb",),
                overrides=(("hyperv-fb", "panic_hypervisor_list", INT_MIN + 10),))
    assert moved.properties["fb-shows-panic"]
    assert run("piccoli-levels", hypervisor="hyperv", drivers=("hyperv-fb",),
               kdump=False, host_panic_action="none").properties["fb-shows-panic"]


def test_levels_decide_which_lists_run_before_kdump() -> None:
    """Patch 24 (docs/kernel-history.md 4.3): 0 kdump first; 1 hypervisor; 2 hypervisor and
    info only if a kmsg dumper exists; 3 both; 4 (= crash_kexec_post_notifiers) all three."""
    def lists(level: str, drivers: tuple[str, ...] = ()) -> set[str]:
        r = run("piccoli-levels", drivers=("pvpanic", "ipmi-panic-event", *drivers),
                params=(("panic_notifiers_level", level),))
        return set(before_kdump(r)) - {"ramoops"}

    hyp, info, pre = {"pvpanic"}, {"dump-kernel-offset"}, {"ipmi-panic-event"}
    assert lists("0") == set()
    assert lists("1") == hyp
    assert lists("2") == hyp
    assert lists("2", ("ramoops",)) == hyp | info
    assert lists("3") == hyp | info
    assert lists("4") == hyp | info | pre
    post = run("piccoli-levels", drivers=("pvpanic", "ipmi-panic-event"), params=POST)
    assert set(before_kdump(post)) == hyp | info | pre


def test_bcm_vk_on_the_hypervisor_list_stops_dma_before_kdump_by_default() -> None:
    """Seed 002, Piccoli: 'I'd keep this one in the hypervisor list'; Petr: 'not always such
    list is going to be called before kdump' -- at level 0 it is not."""
    kw = {"drivers": ("bcm-vk",), "faults": ("dma-active",)}
    assert run("piccoli-levels", **kw).properties["vmcore-intact"]
    assert not run("piccoli-levels", params=(("panic_notifiers_level", "0"),),
                   **kw).properties["vmcore-intact"]


def test_placements_are_checked_against_the_policy_lists() -> None:
    """A [[placement]] naming a list the policy does not have is refused with the valid ones."""
    with pytest.raises(ScenarioError, match="panic_hypervisor_list"):
        run("linux-6.1", overrides=(("bcm-vk", "panic_hypervisor_list", 0),))


# --- piccoli-filter -----------------------------------------------------------------------

def test_filter_keeps_only_named_callbacks_and_drops_a_slipped_in_one() -> None:
    """Filter V4: 'users may select specifically which callbacks they wish to run, allowing
    a safer kdump'; seed 000, Piccoli (a): 'somebody eventually would slip a nonsense
    callback'. With post notifiers and the filter, the hanging notifier is never registered
    and the vmcore survives; pvpanic, not named, does not tell the host."""
    params = (*POST, ("panic_notifier_filter", "bcm-vk"))
    r = run("piccoli-filter", drivers=("bcm-vk", "pvpanic"), params=params,
            faults=("hanging-callback",))
    assert r.properties["vmcore-captured"]
    assert "pvpanic" not in r.ran_callbacks and r.pvpanic_events == ()
    assert not run("piccoli-filter", drivers=("bcm-vk",), params=POST,
                   faults=("hanging-callback",)).properties["vmcore-captured"]
    # A catalog callback that is not loaded here (bcm-vk) is still a name the filter knows:
    # only it would be kept, so pvpanic is refused. A name that is no callback at all is a
    # typo, refused before the run (panicpath.inputs).
    unloaded = run("piccoli-filter", drivers=("pvpanic",),
                   params=(*POST, ("panic_notifier_filter", "bcm-vk")))
    assert "pvpanic" not in unloaded.ran_callbacks
    with pytest.raises(InputError, match="no callback named 'no_such_symbol'"):
        run("piccoli-filter", drivers=("pvpanic",),
            params=(*POST, ("panic_notifier_filter", "no_such_symbol")))


# --- Biederman, Rutland ----------------------------------------------------------------------

def test_biederman_nothing_before_kdump_even_when_drivers_force_it() -> None:
    """Seed 000, Biederman: 'just remove crash_kexec_post notifiers'. No notifier or dumper
    runs before kdump, whatever the command line or the forcing drivers say."""
    for kw in ({"hypervisor": "hyperv", "params": POST}, {"arch": "powerpc",
                                                         "drivers": ("fadump",)}):
        r = run("biederman", **kw)
        assert [e for e in before_kdump(r) if e != "hyperv-crash-shutdown"] == []


def test_biederman_objections_arm64_disk_and_bcm_vk_dma() -> None:
    """Seed 000, Piccoli (I): 'Some users really *require to execute* some special code
    *before kdump*': arm64 Hyper-V loses its disk (seeds 001/004) and bcm_vk keeps writing
    into the dump (seed 002)."""
    assert not run("biederman", arch="arm64",
                   hypervisor="hyperv").properties["dump-target-reachable"]
    assert not run("biederman", drivers=("bcm-vk",),
                   faults=("dma-active",)).properties["vmcore-intact"]


def test_rutland_defer_capture_kernel_resets_the_vmbus() -> None:
    """Seed 001, Rutland: 'have hyperv_init() check is_kdump_kernel() prior to the first
    hypercall, and do the cleanup/reset there'. The crashing arm64 kernel posts no UNLOAD;
    the capture kernel does, and reaches its disk."""
    r = run("rutland-defer", arch="arm64", hypervisor="hyperv")
    assert "hyperv-vmbus-unload" not in r.ran_callbacks
    reset = next(e for e in r.trace if e.event == "hyperv_init")
    assert reset.kind == "capture"
    assert r.properties["dump-target-reachable"]


def test_rutland_defer_the_host_still_takes_its_time() -> None:
    """Seed 001, Vitaly: 'it was taking *minutes* for the host to reply'. Deferring moves the
    wait out of the crashed kernel (its panic path is short again, unlike 6.1) but the
    capture kernel gives up after 100 s (vmbus_wait_for_unload) and cannot connect."""
    slow = run("rutland-defer", arch="arm64", hypervisor="hyperv", faults=("slow-host",))
    assert slow.properties["path-bounded"]
    assert not slow.properties["dump-target-reachable"]
    assert not run("linux-6.1", arch="arm64", hypervisor="hyperv",
                   faults=("slow-host",)).properties["path-bounded"]
    medium = run("rutland-defer", arch="arm64", hypervisor="hyperv",
                 faults=("slow-host=30000",))
    assert medium.properties["dump-target-reachable"]


# --- Kawai 2016 (seed 003) ---------------------------------------------------------------------

def test_kawai_v3_fixes_problem_2_on_x86() -> None:
    """Seed 003, Problem 2: smp_send_stop before machine_crash_shutdown loses the other
    CPUs' registers; the v3 patch's x86 panic_smp_send_stop saves them."""
    assert not run("linux-3.16", params=POST).properties["vmcore-complete"]
    r = run("kawai-2016", params=POST)
    assert r.properties["vmcore-complete"]
    assert events(r).count("nmi_shootdown_cpus") == 1


def test_kawai_v3_does_not_fix_problem_1() -> None:
    """Seed 003, Dave Young: 'It does not fix the Problem 1'; only x86 overrides
    panic_smp_send_stop, so Octeon's watchdogs of offlined CPUs stay armed; the merged v4.9
    (with the MIPS companion) quiesces them."""
    r = run("kawai-2016", arch="mips-octeon", params=POST)
    assert not r.properties["watchdog-quiesced"]
    assert run("linux-4.9", arch="mips-octeon", params=POST).properties["watchdog-quiesced"]


def test_kawai_v3_differs_from_what_was_merged() -> None:
    """Seed 003: the v3 patch replaces smp_send_stop even without post notifiers (Dave Young:
    'not sure it is safe to replace the smp_send_stop with the kdump friendly function');
    the merged 4.9 keeps smp_send_stop there (Kawai: 'I agree with that use smp_send_stop
    if crash_kexec_post_notifiers or kdump is disabled')."""
    kw = {"kdump": False, "host_panic_action": "none"}
    assert "nmi_shootdown_cpus" in events(run("kawai-2016", **kw))
    merged = events(run("linux-4.9", **kw))
    assert "smp_send_stop" in merged and "nmi_shootdown_cpus" not in merged
