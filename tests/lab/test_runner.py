"""The shipped scenarios on a real kernel under QEMU (two guests at a time): the four
acceptance scenarios and the fault scenarios (docs/lab.md "Faults in the guest").

Each asserts what the real kernel did as recorded in
../shared/reference/lab/README.md (Debian 6.1.192, x86_64, TCG), and, when
panicpath.lab.predict exists, that the model agrees.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from panicpath.lab.campaign import CampaignEntry, run_campaign, write_report
from panicpath.lab.conformance import find_predictor
from panicpath.lab.events import FaultArmed, PanicStarted, ProbeResult
from panicpath.lab.harness import GuestPlan, GuestResult
from panicpath.lab.kernels import KernelFiles
from panicpath.lab.observation import CallbackRun, Observation
from panicpath.lab.scenario import LabScenario, builtin_scenarios_dir, load_scenario

pytestmark = [pytest.mark.qemu, pytest.mark.timeout(900)]  # the campaign fixture runs in the first test


@pytest.fixture(scope="module")
def entries(lab_kernel: KernelFiles, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, CampaignEntry]:
    out = tmp_path_factory.mktemp("campaign")
    scenarios = [load_scenario(p) for p in sorted(builtin_scenarios_dir().glob("*.toml"))]
    got = run_campaign(scenarios, 2, out, find_predictor())
    write_report(got, out)
    return {e.run.scenario.name: e for e in got}


def observed(entries: dict[str, CampaignEntry], name: str, status: str = "complete"
             ) -> Observation:
    e = entries[name]
    assert e.run.result.status == status, e.run.result.summary()
    with pytest.raises(ProcessLookupError):
        os.kill(e.run.result.pid, 0)
    assert Path(e.run.result.log_path).exists()
    return e.run.observation


def test_kdump_without_post_notifiers_runs_no_notifier(entries: dict[str, CampaignEntry]
                                                       ) -> None:
    o = observed(entries, "kdump_no_post_notifiers")
    assert o.callbacks == ()
    assert o.pvpanic_event is None
    assert not o.kernel_offset_printed and o.kmsg_dump_reasons == ()
    assert o.crash_kernel_booted and o.vmcore_seen and o.vmcore_size and o.vmcore_size > 10**8
    assert o.panic_text_on_console and not o.end_of_panic_reached


def test_post_notifiers_equal_priorities_in_registration_order(
        entries: dict[str, CampaignEntry]) -> None:
    o = observed(entries, "kdump_post_notifiers_order")
    assert o.callbacks == (
        CallbackRun("high", "notifier", 200, 0, True),
        CallbackRun("dump-kernel-offset", "notifier", 0),
        CallbackRun("second", "notifier", 0, 0, True),
        CallbackRun("first", "notifier", 0, 0, True),
        CallbackRun("low", "notifier", -200, 0, True),
        CallbackRun("dump", "kmsg_dumper"),
    )
    assert o.pvpanic_event == "CRASH_LOADED"
    assert o.panic_print_seen and o.kmsg_dump_reasons == ("Panic",)
    assert o.crash_kernel_booted and o.vmcore_seen


def test_no_crash_kernel_panic_none_reaches_the_end(entries: dict[str, CampaignEntry]) -> None:
    o = observed(entries, "no_kdump_panic_none")
    assert o.pvpanic_event == "PANICKED"
    assert [(c.name, c.kexec_crash_loaded) for c in o.callbacks] == [
        ("high", False), ("dump-kernel-offset", None), ("low", False), ("dump", None)]
    assert o.end_of_panic_reached and not o.crash_kernel_booted and not o.vmcore_seen


def test_nmi_panic_text_only_in_pstore(entries: dict[str, CampaignEntry]) -> None:
    o = observed(entries, "nmi_ramoops")
    assert not o.panic_text_on_console and o.panic_text_in_pstore
    assert [c.name for c in o.callbacks] == ["high", "dump-kernel-offset", "low"]
    assert o.pvpanic_event == "CRASH_LOADED"
    assert o.crash_kernel_booted and o.vmcore_seen


def test_ipi_deaf_cpu_stopped_by_nmi_with_post_notifiers(entries: dict[str, CampaignEntry]
                                                         ) -> None:
    o = observed(entries, "ipi_deaf_cpu_post_notifiers")
    deaf = [e for e in entries["ipi_deaf_cpu_post_notifiers"].run.result.events
            if isinstance(e, FaultArmed) and e.get("irqs-off") is not None]
    assert [e.get("cpu") for e in deaf] == ["1"]
    assert [(c.name, c.cpu) for c in o.callbacks] == [
        ("high", 0), ("dump-kernel-offset", None), ("low", 0)]
    assert o.crash_kernel_booted and o.vmcore_seen and not o.hung
    # the crash NMI reaches the CPU with interrupts off: its registers are in the vmcore
    assert o.vmcore_cpus_saved == 2 and o.vmcore_regs_present == (True, True)


def test_ipi_deaf_cpu_without_kdump_needs_the_stop_nmi(entries: dict[str, CampaignEntry]
                                                       ) -> None:
    o = observed(entries, "ipi_deaf_cpu_no_kdump")
    assert o.stop_needed_nmi and o.end_of_panic_reached and o.pvpanic_event == "PANICKED"
    assert [(c.name, c.cpu) for c in o.callbacks] == [
        ("high", 0), ("dump-kernel-offset", None), ("low", 0)]


def test_hanging_notifier_with_post_notifiers_hangs_the_panic(
        entries: dict[str, CampaignEntry]) -> None:
    o = observed(entries, "hanging_callback_post_notifiers", status="hung")
    assert o.hung and [c.name for c in o.callbacks] == ["high", "dump-kernel-offset"]
    assert not o.crash_kernel_booted and not o.vmcore_seen and not o.end_of_panic_reached


def test_hanging_notifier_without_post_notifiers_is_never_called(
        entries: dict[str, CampaignEntry]) -> None:
    o = observed(entries, "hanging_callback_kdump_first")
    assert o.callbacks == () and o.faults_armed == ("hanging-callback",)
    assert o.crash_kernel_booted and o.vmcore_seen and not o.hung


def test_concurrent_panic_loser_parks_and_kdump_follows(entries: dict[str, CampaignEntry]
                                                        ) -> None:
    """CPU 1 calls panic() once CPU 0's panic() has taken panic_cpu, unless the NMI
    shootdown stops it first: with single-threaded TCG (two guests on two cores) CPU 1
    may not run between the two (docs/lab.md "Faults in the guest"). Either way only
    CPU 0's panic prints, the notifiers run on CPU 0 and kdump follows."""
    o = observed(entries, "concurrent_panic_post_notifiers")
    events = entries["concurrent_panic_post_notifiers"].run.result.events
    waiting = [e for e in events if isinstance(e, FaultArmed) and e.get("waiting") is not None]
    loser = [e for e in events if isinstance(e, FaultArmed) and e.get("calls-panic") is not None]
    panics = [e.message for e in events if isinstance(e, PanicStarted)]
    assert len(waiting) == 1 and len(loser) <= 1 and panics == ["sysrq triggered crash"]
    assert [(c.name, c.cpu) for c in o.callbacks] == [("high", 0), ("dump-kernel-offset", None)]
    assert o.crash_kernel_booted and o.vmcore_seen


def test_lock_held_by_a_stopped_cpu_times_out_then_hangs(entries: dict[str, CampaignEntry]
                                                         ) -> None:
    o = observed(entries, "lock_held_by_stopped_cpu_post_notifiers", status="hung")
    results = [(e.name, e.result) for e in
               entries["lock_held_by_stopped_cpu_post_notifiers"].run.result.events
               if isinstance(e, ProbeResult)]
    assert results == [("trying", "lock-timeout")]
    assert [c.name for c in o.callbacks] == ["trying", "waiting"]
    assert o.hung and not o.crash_kernel_booted


def test_vmcore_read_back_has_both_cpus_and_an_unchanged_dma_page(
        entries: dict[str, CampaignEntry]) -> None:
    """docs/lab.md "The vmcore read back": the crash kernel sends the notes of
    /proc/vmcore (one NT_PRSTATUS per CPU, kernel/kexec_core.c crash_save_cpu) and reads
    the dma-active page twice; its writer, a CPU, was stopped by the crash NMI."""
    o = observed(entries, "dma_active_vmcore_intact")
    assert o.vmcore_cpus_saved == 2 and o.vmcore_regs_present == (True, True)
    assert o.vmcore_page_changed is False and o.faults_armed == ("dma-active",)
    for name in ("kdump_no_post_notifiers", "kdump_post_notifiers_order", "nmi_ramoops"):
        assert entries[name].run.observation.vmcore_cpus_saved == 2, name


def test_a_reservation_too_small_to_load_is_an_outcome(entries: dict[str, CampaignEntry]
                                                       ) -> None:
    o = observed(entries, "crashkernel_too_small_to_load")
    assert "kexec -p had failed" in entries["crashkernel_too_small_to_load"].run.result.detail
    assert o.crash_kernel_loaded is False and not o.crash_kernel_booted
    assert not o.crash_kernel_died and o.panic_text_on_console


def test_a_watchdog_resets_the_machine_during_a_slow_dump(entries: dict[str, CampaignEntry]
                                                          ) -> None:
    """docs/lab.md "A watchdog during the dump": the i6300esb armed before the panic is
    stopped by nothing in panic() or kdump and expires (QMP WATCHDOG) while the crash kernel
    waits before reading /proc/vmcore: QEMU resets (exits), no vmcore."""
    o = observed(entries, "watchdog_fires_during_slow_dump", "crash-kernel-died")
    assert o.watchdog_fired and o.crash_kernel_booted and o.crash_kernel_died
    assert not o.vmcore_seen and o.crash_kernel_death == "watchdog reset (QMP WATCHDOG)"


def test_a_dump_that_ends_before_the_watchdog_is_captured(entries: dict[str, CampaignEntry]
                                                          ) -> None:
    o = observed(entries, "watchdog_dump_in_time")
    assert not o.watchdog_fired and not o.crash_kernel_died
    assert o.vmcore_seen and o.vmcore_cpus_saved == 2


@pytest.mark.parametrize("name", sorted(p.stem for p in builtin_scenarios_dir().glob("*.toml")))
def test_model_agrees(entries: dict[str, CampaignEntry], name: str) -> None:
    conf = entries[name].conformance
    if conf.predicted is None:
        pytest.skip("panicpath.lab.predict is not written yet: nothing to compare with")
    assert conf.agree, [str(d) for d in conf.differences]


def _result(status: str, phase: str, log: Path) -> GuestResult:
    log.write_text(f"# END status={status}\n")
    return GuestResult(status, phase, status, log, (), None, 1.0, (), 0)  # type: ignore[arg-type]


@pytest.mark.parametrize(("first", "runs", "status"), [
    (("timeout", "boot"), 2, "complete"),       # a boot that died under TCG: tried again
    (("qemu-exited", "boot"), 2, "complete"),
    (("timeout", "load"), 1, "timeout"),        # the scenario had acted: not tried again
    (("hung", "panic"), 1, "hung"),             # an outcome
])
def test_a_boot_that_failed_before_init_is_tried_once_more(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: tuple[str, str], runs: int,
        status: str) -> None:
    """runner.BOOT_RETRIES: only a failure in the boot phase (before the first kernel's
    /init, where nothing of the scenario has acted) is run again, once; its log is kept
    and named in the detail. Without the retry a 6.12 boot's emulated "Oops: int3"
    failed a whole benchmark."""
    from panicpath.lab import runner

    calls: list[int] = []

    async def fake(plan: GuestPlan, on_event: object = None) -> GuestResult:
        calls.append(1)
        if len(calls) == 1:
            return _result(*first, plan.log_path)
        return _result("complete", "done", plan.log_path)

    monkeypatch.setattr(runner, "run_guest", fake)
    (tmp_path / "run").mkdir()
    prep = runner.Prepared(LabScenario(name="x"), ("true",), tmp_path / "run",
                           tmp_path / "q" / "qmp.sock")
    r = asyncio.run(runner.run_prepared_async(prep))
    assert (len(calls), r.result.status) == (runs, status)
    kept = tmp_path / "run" / "boot-failed-1.log"
    assert kept.exists() == (runs == 2)
    assert (str(kept) in r.result.detail) == (runs == 2)


def test_a_restored_run_whose_trigger_never_fired_is_run_again_booted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """runner._trigger_lost: a restored guest that said READY and never panicked (a timeout
    in the panic phase, no panic) is run once more, booted, not from the same snapshot
    (whose frozen state stalled the trigger in CI); a run that panicked and hung is an
    outcome and is not run again."""
    from panicpath.lab import runner

    plans: list[str] = []

    async def restored(prep: runner.Prepared, on_event: object) -> GuestResult:
        plans.append("restored")
        return _result("timeout", "panic", prep.log_path)

    async def booted(plan: GuestPlan, on_event: object = None) -> GuestResult:
        plans.append("booted")
        return _result("complete", "done", plan.log_path)

    monkeypatch.setattr(runner, "_run_with_snapshot", restored)
    monkeypatch.setattr(runner, "run_guest", booted)
    (tmp_path / "run").mkdir()
    prep = runner.Prepared(LabScenario(name="x"), ("true",), tmp_path / "run",
                           tmp_path / "q" / "qmp.sock", snapshot=object())  # type: ignore[arg-type]
    r = asyncio.run(runner.run_prepared_async(prep))
    assert plans == ["restored", "booted"] and r.result.status == "complete"
    assert (tmp_path / "run" / "trigger-lost.log").exists()
    assert "trigger-lost.log" in r.result.detail


def test_a_panicked_run_that_hung_is_not_run_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from panicpath.lab import runner

    calls: list[int] = []

    async def restored(prep: runner.Prepared, on_event: object) -> GuestResult:
        calls.append(1)
        return _result("hung", "panic", prep.log_path)

    monkeypatch.setattr(runner, "_run_with_snapshot", restored)
    (tmp_path / "run").mkdir()
    prep = runner.Prepared(LabScenario(name="x"), ("true",), tmp_path / "run",
                           tmp_path / "q" / "qmp.sock", snapshot=object())  # type: ignore[arg-type]
    r = asyncio.run(runner.run_prepared_async(prep))
    assert calls == [1] and r.result.status == "hung"
