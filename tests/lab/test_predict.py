"""The model's prediction against the real captures in tests/data (copied from
../shared/reference/lab/logs): each capture's configuration, predicted by the model,
must agree with what the console parser observed in the real kernel's log."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from panicpath.lab.console import read_log
from panicpath.lab.observation import compare, observe
from panicpath.lab.predict import predict, to_model
from panicpath.lab.reservation import CaptureNeeds
from panicpath.lab.scenario import (
    DumperProbe,
    LabScenario,
    NotifierProbe,
    PhaseTimeouts,
    builtin_scenarios_dir,
    load_scenario,
)
from panicpath.model.capture import crash_image_fits

DATA = Path(__file__).resolve().parents[1] / "data"

PROBES = (NotifierProbe("mid", 0), NotifierProbe("low", -200), NotifierProbe("high", 200))
"""shared/reference/lab/scripts/labpanic.c registers mid, low, high in that order."""
DUMPER = (DumperProbe("dumper"),)

CAPTURES = {
    "mod_cloud-amd64_M1_nokdump_pvnone": LabScenario(
        name="M1", crash_kernel=False, panic_print=0x4, notifiers=PROBES, dumpers=DUMPER,
        panic_action="none"),
    "mod_cloud-amd64_M2_kdump": LabScenario(
        name="M2", panic_print=0x4, notifiers=PROBES, dumpers=DUMPER),
    "mod_cloud-amd64_M3_kdump_pn": LabScenario(
        name="M3", post_notifiers=True, panic_print=0x4, notifiers=PROBES, dumpers=DUMPER),
    "mod_cloud-amd64_M4_nokdump_pvdefault": LabScenario(
        name="M4", crash_kernel=False, panic_print=0x4, notifiers=PROBES, dumpers=DUMPER),
    "nmi_panic": LabScenario(name="nmi", post_notifiers=True, trigger="nmi"),
    "nmi_panic_ramoops": LabScenario(
        name="nmi-ramoops", post_notifiers=True, trigger="nmi", ramoops=True, notifiers=PROBES,
        dumpers=DUMPER),
}


@pytest.mark.parametrize("capture", sorted(CAPTURES))
def test_model_agrees_with_the_real_capture(capture: str) -> None:
    observed = observe(read_log(DATA / f"{capture}.log"))
    predicted = predict(CAPTURES[capture])
    assert compare(observed, predicted) == []


def test_disagreement_is_reported() -> None:
    """The differ is not vacuous: predicting M3 without post notifiers disagrees with the
    M3 capture on the callbacks and the pvpanic event."""
    observed = observe(read_log(DATA / "mod_cloud-amd64_M3_kdump_pn.log"))
    wrong = predict(CAPTURES["mod_cloud-amd64_M2_kdump"])
    fields = {d.field for d in compare(observed, wrong)}
    assert {"callbacks", "pvpanic_event", "kernel_offset_printed"} <= fields


@pytest.mark.qemu
def test_small_crashkernel_loads_no_crash_image(capture_needs: CaptureNeeds) -> None:
    """The predictor hands the model the reservation and the measured needs (docs/lab.md
    "The vmcore read back": kexec -p fails at 56M and loads at 57M on this kernel)."""
    def fits(size: str) -> bool:
        return crash_image_fits(to_model(LabScenario(name="x", crashkernel_size=size)))

    load = capture_needs.load_mib
    assert not fits("32M") and not fits(f"{load - 1}M")
    assert fits(f"{load}M") and fits("256M")
    scn = to_model(LabScenario(name="x", crashkernel_size="64M"))
    assert scn.kdump and scn.capture_needs_mib == capture_needs.mib
    assert ("crashkernel", "64M") in scn.params


def test_model_agrees_with_the_vmcore_read_back() -> None:
    """vmcore_dma_active.log: both CPUs' registers in the vmcore (the model's x86_64
    crash_smp_send_stop saves CPU 1's, cpus_saved [0, 1]) and the dma-active page
    unchanged (the lab's writer is CPU 1, crash-stopped before the handover: the
    model's vmcore-intact)."""
    lab = load_scenario(builtin_scenarios_dir() / "dma_active_vmcore_intact.toml")
    observed = observe(read_log(DATA / "vmcore_dma_active.log"))
    predicted = predict(lab)
    assert predicted.vmcore_cpus_saved == 2 and predicted.vmcore_regs_present == (True, True)
    assert predicted.vmcore_page_changed is False and predicted.faults_armed == ("dma-active",)
    assert "dma-active" not in to_model(lab).faults
    assert compare(observed, predicted) == []


def test_a_cpu_left_running_at_the_handover_changes_the_page() -> None:
    """The mechanism the page read checks: on arm64 6.1 crash_smp_send_stop's IPI does
    not stop a CPU with interrupts off, so the model's vmcore lacks its registers; and a
    dma-active writer the model still sees running changes the page."""
    deaf = predict(LabScenario(name="d", arch="arm64", flavour="cloud-arm64",
                               post_notifiers=True, faults=("ipi-deaf-cpu", "dma-active")))
    assert deaf.vmcore_cpus_saved == 1 and deaf.vmcore_regs_present == (True,)
    nokdump = predict(LabScenario(name="n", crash_kernel=False, faults=("dma-active",)))
    assert nokdump.vmcore_page_changed is None and nokdump.vmcore_cpus_saved is None


@pytest.mark.qemu
def test_model_agrees_with_a_reservation_too_small_to_load(capture_needs: CaptureNeeds) -> None:
    """Below the measured load size the model loads no crash image (model/capture.py
    crash_image_fits), as kexec -p did not in the real 48M run."""
    lab = load_scenario(builtin_scenarios_dir() / "crashkernel_too_small_to_load.toml")
    observed = observe(read_log(DATA / "crashkernel_48M_no_load.log"))
    assert predict(lab).crash_kernel_loaded is False
    assert compare(observed, predict(lab)) == []


@pytest.mark.qemu
def test_model_predicts_a_crash_kernel_dying_in_a_small_reservation(
        capture_needs: CaptureNeeds) -> None:
    """Issue 16: a crash kernel that loads but dies in its reservation (the real 64M run:
    "System is deadlocked on memory") is predicted from the needs measured on the kernel,
    and the same scenario with the measured boot size is predicted to capture."""
    lab = LabScenario(name="ck64", crashkernel_size="64M",
                      notifiers=(NotifierProbe("high", 200),),
                      timeouts=PhaseTimeouts(panic=20, crash_kernel=40))
    assert capture_needs.load_mib <= 64 < capture_needs.boot_mib
    observed = observe(read_log(DATA / "crashkernel_64M_dies.log"))
    assert compare(observed, predict(lab)) == []
    works = predict(dataclasses.replace(lab, crashkernel_size=f"{capture_needs.boot_mib}M"))
    assert works.vmcore_seen and not works.crash_kernel_died


@pytest.mark.qemu
def test_measured_needs_are_the_boundaries_of_what_was_seen(capture_needs: CaptureNeeds
                                                            ) -> None:
    """Every cycle of the bisection is on the side of the two sizes it should be."""
    rank = {"not-loaded": 0, "died": 1, "works": 2}
    for mib, outcome in capture_needs.tried:
        want = 0 if mib < capture_needs.load_mib else 1 if mib < capture_needs.boot_mib else 2
        assert rank[outcome] == want, (mib, outcome)
    tried = dict(capture_needs.tried)
    assert tried[capture_needs.load_mib - 1] == "not-loaded"
    assert tried[capture_needs.boot_mib - 1] == "died"
    assert tried[capture_needs.boot_mib] == "works"


FAULT_CAPTURES = {
    "fault_ipi_deaf_post": "ipi_deaf_cpu_post_notifiers",
    "fault_hanging_post": "hanging_callback_post_notifiers",
    "fault_hanging_kdump_first": "hanging_callback_kdump_first",
    "fault_concurrent_post": "concurrent_panic_post_notifiers",
    "fault_lock_held_post": "lock_held_by_stopped_cpu_post_notifiers",
    "fault_ipi_deaf_no_kdump": "ipi_deaf_cpu_no_kdump",
}
"""Real runs (panicpath lab run, 6.1.192 under QEMU) of the shipped fault scenarios."""


@pytest.mark.parametrize("capture", sorted(FAULT_CAPTURES))
def test_model_agrees_with_the_real_fault_runs(capture: str) -> None:
    scenario = load_scenario(builtin_scenarios_dir() / f"{FAULT_CAPTURES[capture]}.toml")
    observed = observe(read_log(DATA / f"{capture}.log"))
    assert compare(observed, predict(scenario)) == []


OTHER_FAULT_RUNS = {
    "fault_ipi_deaf_nmi_ramoops": LabScenario(
        name="deaf-nmi", post_notifiers=True, trigger="nmi", ramoops=True,
        notifiers=(NotifierProbe("high", 200),), faults=("ipi-deaf-cpu", "nmi-context"),
        timeouts=PhaseTimeouts(panic=20)),
    "fault_hanging_named_post": LabScenario(
        name="hang-low", post_notifiers=True, faults=("hanging-callback=low",),
        notifiers=(NotifierProbe("high", 200), NotifierProbe("low", -200)),
        timeouts=PhaseTimeouts(panic=12)),
}
"""Real runs of scenarios that are not shipped (kept short in CI)."""


@pytest.mark.parametrize("capture", sorted(OTHER_FAULT_RUNS))
def test_model_agrees_with_other_real_fault_runs(capture: str) -> None:
    observed = observe(read_log(DATA / f"{capture}.log"))
    assert compare(observed, predict(OTHER_FAULT_RUNS[capture])) == []


def test_a_lock_without_timeout_hangs_and_one_with_a_timeout_is_skipped() -> None:
    """probe_take_lock(): raw_spin_lock() forever at 0 ms, raw_spin_trylock() otherwise."""
    lab = load_scenario(builtin_scenarios_dir() / "lock_held_by_stopped_cpu_post_notifiers.toml")
    needs = {cb.name: [(n.kind, n.arg) for n in cb.needs] for cb in to_model(lab).user_callbacks}
    assert needs == {"trying": [("trylock", "probe_lock")], "waiting": [("lock", "probe_lock")],
                     "low": []}
    o = predict(lab)
    assert [c.name for c in o.callbacks] == ["trying", "waiting"] and o.hung


def test_faults_reach_the_model_under_their_names() -> None:
    lab = LabScenario(name="x", notifiers=(NotifierProbe("a", 0),), trigger="nmi",
                      faults=("ipi-deaf-cpu=1", "hanging-callback=a", "nmi-context",
                              "lock-held-by-stopped-cpu"))
    m = to_model(lab)
    # no notifier takes probe_lock: the lock fault is the guest's alone (faults_armed)
    assert m.faults == ("nmi-context", "ipi-deaf-cpu=1", "hanging-callback=a")
    locked = to_model(dataclasses.replace(lab, notifiers=(NotifierProbe("a", 0, "lock"),)))
    assert locked.faults == ("nmi-context", "lock-held-by-stopped-cpu=probe_lock",
                             "ipi-deaf-cpu=1", "hanging-callback=a")
    assert m.path_bound_ms == 30_000


def test_a_hang_is_predicted_as_hung() -> None:
    hang = load_scenario(builtin_scenarios_dir() / "hanging_callback_post_notifiers.toml")
    first = load_scenario(builtin_scenarios_dir() / "hanging_callback_kdump_first.toml")
    assert predict(hang).hung and not predict(hang).crash_kernel_booted
    assert not predict(first).hung and predict(first).crash_kernel_booted


def test_model_agrees_with_the_real_corrupted_list_run() -> None:
    """The real kernel (fault_corrupted_list_post.log) runs the chain up to and including
    the block whose next is corrupt (kernel/notifier.c notifier_call_chain() reads
    nb->next before calling nb, 6.1), then oopses: pvpanic and 'high' run, 'low' never
    does, no crash kernel. The model runs the same with the positioned fault
    corrupted-notifier-list=high (the probe corrupts its first notifier's next)."""
    observed = observe(read_log(DATA / "fault_corrupted_list_post.log"))
    lab = LabScenario(name="c", post_notifiers=True, faults=("corrupted-notifier-list",),
                      notifiers=(NotifierProbe("high", 200), NotifierProbe("low", -200)),
                      timeouts=PhaseTimeouts(panic=12))
    assert compare(observed, predict(lab)) == []
    assert [c.name for c in observed.callbacks if c.name in ("high", "low")] == ["high"]
    assert not observed.crash_kernel_booted and observed.pvpanic_event == "CRASH_LOADED"


def test_the_model_runs_the_policy_and_arch_of_the_guests_kernel() -> None:
    """Issue 15: 5.10 is predicted with linux-5.0, 7.x with linux-mainline, an arm64 guest
    with the arm64 model, ppc64el with powerpc; predicted_with names them and the drivers."""
    from panicpath.lab.predict import model_kernel, predicted_with
    from panicpath.lab.scenario import with_kernel

    sc = load_scenario(builtin_scenarios_dir() / "kdump_no_post_notifiers.toml")
    assert model_kernel(sc) == ("linux-6.1", "x86_64")
    assert model_kernel(with_kernel(sc, "5.10")) == ("linux-5.0", "x86_64")
    assert model_kernel(with_kernel(sc, "7.3", "arm64")) == ("linux-7.3", "arm64")
    assert model_kernel(with_kernel(sc, "7.2")) == ("linux-6.6", "x86_64")
    assert model_kernel(with_kernel(sc, "6.1", "ppc64el")) == ("linux-6.1", "powerpc")
    w = predicted_with(sc)
    assert w["policy"] == "linux-6.1" and "pvpanic" in w["drivers"]  # type: ignore[operator]


def test_arm64_cannot_stop_a_cpu_with_interrupts_off() -> None:
    """Seeds 001 and 004 on a real kernel (arm64_6.1_ipi_deaf_kdump.log, Debian 6.1 arm64 in
    QEMU virt): CPU 1 spins with interrupts off; crash_smp_send_stop()'s IPI never reaches
    it, the kernel prints "SMP: failed to stop secondary CPUs 1" after 1 s and the vmcore
    has the panic CPU's registers only. The model (arm64, ordinary IPIs, no pseudo-NMI)
    predicts the same; on x86_64 the NMI shootdown stops it."""
    from panicpath.lab.scenario import with_kernel

    sc = load_scenario(builtin_scenarios_dir() / "portable_ipi_deaf_cpu_kdump.toml")
    observed = observe(read_log(DATA / "arm64_6.1_ipi_deaf_kdump.log"))
    assert observed.cpus_not_stopped == "1" and observed.vmcore_cpus_saved == 1
    arm = predict(with_kernel(sc, "6.1", "arm64"))
    assert compare(observed, arm) == []
    x86 = predict(with_kernel(sc, "6.1", "x86_64"))
    assert x86.cpus_not_stopped is None and x86.vmcore_cpus_saved == 2


LONG_LOCK = LabScenario(
    name="lock_long_post", post_notifiers=True, pvpanic=False,
    notifiers=(NotifierProbe("first", 10), NotifierProbe("locker", 0, "lock",
                                                          lock_timeout_ms=25_000),
               NotifierProbe("last", -10)),
    timeouts=PhaseTimeouts(panic=20))
"""A lock notifier (the lock held by a CPU the NMI stopped) that retries longer than the
panic phase timeout: written outside the project, run for real (tests/data/
lock_long_post_hung.log, Debian 6.1.0-57-cloud-amd64)."""


def test_a_lock_retried_past_the_phase_timeout_is_seen_as_the_lab_sees_it() -> None:
    """The model's trylock retried for 25 s (Need.wait_ms) crosses the 20 s bound, so the
    path is unbounded (hung) and what it does after the bound (``last``, the crash kernel)
    is not observed, since the lab killed the guest at the bound; ``locker`` is, having
    printed its marker on entry. Before Need.wait_ms the model failed the trylock at once
    and predicted a capture."""
    predicted = predict(LONG_LOCK)
    assert predicted.hung and not predicted.crash_kernel_booted
    assert [c.name for c in predicted.callbacks] == ["first", "dump-kernel-offset", "locker"]
    observed = observe(read_log(DATA / "lock_long_post_hung.log"))
    assert compare(observed, predicted) == []
    short = predict(dataclasses.replace(LONG_LOCK, notifiers=(
        NotifierProbe("first", 10), NotifierProbe("locker", 0, "lock", lock_timeout_ms=500),
        NotifierProbe("last", -10))))
    assert not short.hung and short.vmcore_seen
    assert [c.name for c in short.callbacks][-1] == "last"


def test_arm64_deaf_cpu_writes_under_the_dump() -> None:
    """Issue 16's arm64 cell, run for real (tests/data/arm64_6.1_ipi_deaf_dma_post.log,
    Debian 6.1.0-57-cloud-arm64): the IPI stop misses CPU 1 ("failed to stop secondary CPUs
    1"), the vmcore holds one NT_PRSTATUS, and the page CPU 1 writes, read through /dev/mem
    (arm64 6.1's /proc/vmcore puts RAM past 2^63), changes between the two reads; the model
    says all three (a CPU spinning with interrupts off is a writer: model/capture.py)."""
    from panicpath.lab.scenario import with_kernel

    lab = with_kernel(load_scenario(builtin_scenarios_dir() / "portable_ipi_deaf_dma_post.toml"),
                      "6.1", "arm64")
    observed = observe(read_log(DATA / "arm64_6.1_ipi_deaf_dma_post.log"))
    assert observed.vmcore_page_changed is True and observed.vmcore_cpus_saved == 1
    assert observed.cpus_not_stopped == "1"
    assert compare(observed, predict(lab)) == []


def test_ppc64el_oops_on_the_corrupted_list_prints_the_deferred_notifier() -> None:
    """ppc64el 6.1, run for real (tests/data/ppc64el_6.1_corrupted_list_post.log, Debian
    6.1.0-57-powerpc64le): crash_kexec_prepare() deferred printk, 'first' ran, its next
    pointer faulted, and its marker reached the console with the oops, whose
    bust_spinlocks(0) -> console_unblank() printed the buffer (lib/bust_spinlocks.c,
    6.1.192). The model predicts it (console_unblank_flush); the same scenario on 6.12
    (linux-6.6: 7b23a66db55e's early return) and on x86_64 (nothing deferred) differ as
    they must: 6.12 sees no notifier, x86_64 sees 'first' printed at once."""
    from panicpath.lab.scenario import with_kernel

    sc = load_scenario(builtin_scenarios_dir() / "portable_corrupted_list_post.toml")
    observed = observe(read_log(DATA / "ppc64el_6.1_corrupted_list_post.log"))
    assert [c.name for c in observed.callbacks] == ["first"] and observed.hung
    assert compare(observed, predict(with_kernel(sc, "6.1", "ppc64el"))) == []
    assert [c.name for c in predict(with_kernel(sc, "6.12", "ppc64el")).callbacks] == []
    assert [c.name for c in predict(with_kernel(sc, "6.1", "x86_64")).callbacks] == ["first"]


DEAF_NO_KDUMP = LabScenario(
    name="x_ipi_deaf_no_kdump", crash_kernel=False, pvpanic=False, faults=("ipi-deaf-cpu",),
    notifiers=(NotifierProbe("alpha", 10),), panic_action="none",
    timeouts=PhaseTimeouts(panic=15))
"""Written outside the shipped set (third session of 2026-12-02) and run for real."""


def test_arm64_failed_stop_names_the_cpus_of_each_release() -> None:
    """arch/arm64/kernel/smp.c: 6.1's smp_send_stop() names cpu_online_mask, the panic CPU
    included ("0-1", arm64_6.1_ipi_deaf_no_kdump.log); 7.3's (fdfa588124b6, v6.10) names
    the other CPUs still online ("2" of 3 CPUs with CPU 2 deaf after the crash stop,
    arm64_7.3_three_cpus_deaf_post.log, where 6.1 names the signalled "1-2"). Predicted
    before the runs, agreed in all six cells (docs/lab.md)."""
    from panicpath.lab.scenario import with_kernel

    o = observe(read_log(DATA / "arm64_6.1_ipi_deaf_no_kdump.log"))
    assert o.cpus_not_stopped == "0-1"
    assert compare(o, predict(with_kernel(DEAF_NO_KDUMP, "6.1", "arm64"))) == []
    three = dataclasses.replace(DEAF_NO_KDUMP, name="x_three_cpus_deaf_post", crash_kernel=True,
                                post_notifiers=True, faults=("ipi-deaf-cpu=2",), cpus=3,
                                panic_action="shutdown", timeouts=PhaseTimeouts())
    o = observe(read_log(DATA / "arm64_7.3_three_cpus_deaf_post.log"))
    assert o.cpus_not_stopped == "2" and o.vmcore_cpus_saved == 2
    assert compare(o, predict(with_kernel(three, "7.3", "arm64"))) == []
    assert predict(with_kernel(three, "6.1", "arm64")).cpus_not_stopped == "1-2"


def test_the_lock_fault_without_a_lock_notifier_holds_only_the_probes_lock() -> None:
    """faults = ["lock-held-by-stopped-cpu"] with no notifier that takes probe_lock: the
    guest's holder keeps probe_lock and nothing else (templates/probe.c.j2), so the model
    must not hold the kernel's own locks either: ramoops still stores the panic (the
    model's fault without an argument would hold pstore's buffer lock too and lose it).
    The fault is armed all the same."""
    lab = LabScenario(name="lock_alone", crash_kernel=False, pvpanic=False, ramoops=True,
                      faults=("lock-held-by-stopped-cpu",),
                      notifiers=(NotifierProbe("alpha", 10),), panic_action="none")
    p = predict(lab)
    assert p.faults_armed == ("lock-held-by-stopped-cpu",)
    assert p.panic_text_in_pstore and p.callbacks[0].name == "alpha"
    assert not any(f.startswith("lock-held") for f in to_model(lab).faults)
