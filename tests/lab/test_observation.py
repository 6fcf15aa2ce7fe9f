"""Observations of the real captures, and the differ."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from panicpath.lab.console import read_log
from panicpath.lab.observation import (
    CallbackRun,
    Observation,
    compare,
    observe,
)

DATA = Path(__file__).resolve().parents[1] / "data"


def obs(name: str) -> Observation:
    return observe(read_log(DATA / name))


def test_m3_post_notifiers_observation() -> None:
    o = obs("mod_cloud-amd64_M3_kdump_pn.log")
    assert o.callbacks == (
        CallbackRun("high", "notifier", 200, 0, True),
        CallbackRun("dump-kernel-offset", "notifier", 0),
        CallbackRun("mid", "notifier", 0, 0, True),
        CallbackRun("low", "notifier", -200, 0, True),
        CallbackRun("dumper", "kmsg_dumper"),
    )
    assert o.pvpanic_event == "CRASH_LOADED"
    assert (o.kernel_offset_printed, o.panic_print_seen, o.kmsg_dump_reasons) == (
        True, True, ("Panic",))
    assert (o.crash_kernel_booted, o.vmcore_seen, o.vmcore_size) == (True, True, 846925824)
    assert (o.panic_text_on_console, o.panic_text_in_pstore, o.end_of_panic_reached) == (
        True, False, False)


def test_m2_observation_has_no_callback_and_no_pvpanic() -> None:
    o = obs("mod_cloud-amd64_M2_kdump.log")
    assert o == Observation(crash_kernel_booted=True, vmcore_seen=True, vmcore_size=846925824,
                            panic_text_on_console=True, crash_kernel_loaded=True)


def test_m1_reaches_end_and_sends_panicked() -> None:
    o = obs("mod_cloud-amd64_M1_nokdump_pvnone.log")
    assert o.pvpanic_event == "PANICKED"
    assert o.end_of_panic_reached and not o.crash_kernel_booted
    probes = [c for c in o.callbacks if c.kexec_crash_loaded is not None]
    assert [(c.name, c.kexec_crash_loaded) for c in probes] == [
        ("high", False), ("mid", False), ("low", False)]


def test_nmi_ramoops_callbacks_come_from_pstore() -> None:
    o = obs("nmi_panic_ramoops.log")
    assert [c.name for c in o.callbacks] == ["high", "dump-kernel-offset", "mid", "low"]
    assert (o.panic_text_on_console, o.panic_text_in_pstore) == (False, True)
    assert o.pvpanic_event == "CRASH_LOADED"


def test_nmi_without_ramoops_sees_nothing_but_qmp() -> None:
    o = obs("nmi_panic.log")
    assert o.callbacks == () and not o.panic_text_on_console and not o.panic_text_in_pstore
    assert o.pvpanic_event == "CRASH_LOADED" and o.crash_kernel_booted


def test_compare_agrees_with_itself_and_ignores_silent_callbacks() -> None:
    o = obs("mod_cloud-amd64_M3_kdump_pn.log")
    predicted = Observation(**{**o.__dict__, "callbacks": (
        CallbackRun("pvpanic", "notifier", 2**31 - 1, 0),
        *o.callbacks,
        CallbackRun("ramoops", "kmsg_dumper"),
    )})
    assert compare(o, predicted) == []


def test_compare_reports_order_missing_and_attribute_differences() -> None:
    o = obs("mod_cloud-amd64_M3_kdump_pn.log")
    swapped = (o.callbacks[0], o.callbacks[2], o.callbacks[1], *o.callbacks[3:])
    d = compare(o, Observation(**{**o.__dict__, "callbacks": swapped}))
    assert [(x.field, x.note) for x in d] == [("callbacks", "same callbacks, different order")]
    d = compare(o, Observation(**{**o.__dict__, "callbacks": o.callbacks[:-1]}))
    assert d[0].note == "not predicted: kmsg_dumper:dumper"
    cpu1 = tuple(CallbackRun(c.name, c.kind, c.priority, 1 if c.cpu is not None else None,
                             c.kexec_crash_loaded) for c in o.callbacks)
    d = compare(o, Observation(**{**o.__dict__, "callbacks": cpu1}))
    assert [x.field for x in d] == ["callbacks[high].cpu", "callbacks[mid].cpu",
                                   "callbacks[low].cpu"]
    d = compare(o, Observation(**{**o.__dict__, "pvpanic_event": "PANICKED",
                                  "crash_kernel_booted": False}))
    assert [(x.field, x.observed, x.predicted) for x in d] == [
        ("crash_kernel_booted", True, False), ("pvpanic_event", "CRASH_LOADED", "PANICKED")]


callbacks = st.lists(st.builds(
    CallbackRun, st.sampled_from(["a", "b", "c", "pvpanic"]),
    st.sampled_from(["notifier", "kmsg_dumper"]), st.none() | st.integers(-5, 5),
    st.none() | st.integers(0, 3), st.none() | st.booleans()), max_size=5)
observations = st.builds(
    Observation, callbacks.map(tuple), st.booleans(), st.booleans(),
    st.lists(st.sampled_from(["Panic", "Oops"]), max_size=2).map(tuple), st.booleans(),
    st.booleans(), st.none() | st.integers(0, 2**40),
    st.sampled_from([None, "PANICKED", "CRASH_LOADED"]), st.booleans(), st.booleans(),
    st.booleans())


@given(observations)
def test_json_round_trip(o: Observation) -> None:
    assert Observation.from_json(json.loads(json.dumps(o.to_json()))) == o


@given(observations, observations)
def test_compare_is_empty_exactly_for_equal_visible_facts(a: Observation,
                                                         b: Observation) -> None:
    assert compare(a, a) == []
    if compare(a, b) == []:
        assert a.pvpanic_event == b.pvpanic_event
        assert a.crash_kernel_booted == b.crash_kernel_booted
        assert [c.name for c in a.callbacks if c.name != "pvpanic"] == [
            c.name for c in b.callbacks if c.name != "pvpanic"]


def test_hanging_notifier_with_post_notifiers_is_a_hang() -> None:
    o = obs("fault_hanging_post.log")
    assert [c.name for c in o.callbacks] == ["high", "dump-kernel-offset"]
    assert o.hung and o.faults_armed == ("hanging-callback",)
    assert not o.crash_kernel_booted and not o.vmcore_seen and not o.end_of_panic_reached
    assert o.pvpanic_event == "CRASH_LOADED"


def test_hanging_notifier_never_runs_when_kdump_comes_first() -> None:
    o = obs("fault_hanging_kdump_first.log")
    assert o.callbacks == () and not o.hung
    assert o.crash_kernel_booted and o.vmcore_seen and o.faults_armed == ("hanging-callback",)


def test_ipi_deaf_cpu_is_stopped_by_the_nmi_shootdown() -> None:
    o = obs("fault_ipi_deaf_post.log")
    assert [(c.name, c.cpu) for c in o.callbacks] == [
        ("high", 0), ("dump-kernel-offset", None), ("low", 0)]
    assert o.faults_armed == ("ipi-deaf-cpu",) and o.crash_kernel_booted and not o.hung


def test_corrupted_next_pointer_oopses_after_its_own_notifier() -> None:
    o = obs("fault_corrupted_list_post.log")
    assert [c.name for c in o.callbacks] == ["high"]
    assert o.hung and not o.crash_kernel_booted
    assert o.faults_armed == ("corrupted-notifier-list",)


def test_hang_and_faults_round_trip_through_json() -> None:
    o = obs("fault_hanging_post.log")
    assert Observation.from_json(json.loads(json.dumps(o.to_json()))) == o
    diffs = compare(o, Observation(callbacks=o.callbacks, kernel_offset_printed=True,
                                   pvpanic_event="CRASH_LOADED", panic_text_on_console=True))
    assert {d.field for d in diffs} == {"faults_armed", "hung"}


def test_a_deaf_cpu_makes_smp_send_stop_fall_back_to_the_nmi() -> None:
    o = obs("fault_ipi_deaf_no_kdump.log")
    assert o.stop_needed_nmi and o.end_of_panic_reached and not o.crash_kernel_booted
    assert [c.name for c in o.callbacks] == ["high", "dump-kernel-offset", "low"]
    assert not obs("mod_cloud-amd64_M1_nokdump_pvnone.log").stop_needed_nmi
    assert not obs("fault_ipi_deaf_post.log").stop_needed_nmi  # the NMI shootdown prints no such line


def test_vmcore_read_back_of_a_dma_active_run() -> None:
    """vmcore_dma_active.log: the crash kernel sent the notes (two NT_PRSTATUS with
    registers) and read the dma-active page twice, unchanged (CPU 1 was stopped by the
    crash NMI before kexec)."""
    o = obs("vmcore_dma_active.log")
    assert o.vmcore_cpus_saved == 2 and o.vmcore_regs_present == (True, True)
    assert o.vmcore_pids == (112, 111)  # the sysrq shell, the dma-active kthread
    assert o.vmcore_page_changed is False
    assert o.crash_kernel_loaded and not o.crash_kernel_died and o.crash_kernel_death is None
    assert Observation.from_json(json.loads(json.dumps(o.to_json()))) == o


def test_older_captures_state_no_vmcore_read_back() -> None:
    o = obs("fault_ipi_deaf_post.log")
    assert o.vmcore_cpus_saved is None and o.vmcore_regs_present == ()
    assert o.vmcore_page_changed is None and not o.crash_kernel_died


def test_a_crash_kernel_that_runs_out_of_memory_died() -> None:
    """crashkernel=64M (crashkernel_64M_dies.log): kexec -p loads the image, the crash
    kernel boots, the OOM killer finds nothing to kill and it panics; with panic=-1 it
    resets, which -no-reboot turns into QEMU's exit. Its own panic lines (and its own
    Kernel Offset notifier) are not the first kernel's panic path."""
    o = obs("crashkernel_64M_dies.log")
    assert o.crash_kernel_loaded and o.crash_kernel_booted and o.crash_kernel_died
    assert o.crash_kernel_death == "panic: System is deadlocked on memory"
    assert not o.vmcore_seen and o.vmcore_cpus_saved is None
    assert not o.end_of_panic_reached and not o.kernel_offset_printed


def test_a_reservation_too_small_to_load_loads_nothing() -> None:
    """crashkernel=48M: kexec -p fails; panic() goes on as without kdump, and pvpanic
    (INT_MAX) makes QEMU power off before the probe's notifier prints."""
    o = obs("crashkernel_48M_no_load.log")
    assert o.crash_kernel_loaded is False and not o.crash_kernel_booted
    assert not o.crash_kernel_died and o.pvpanic_event == "PANICKED"
    assert o.callbacks == () and o.panic_text_on_console


def test_vmcore_fields_are_compared_only_when_both_sides_state_them() -> None:
    read = obs("vmcore_dma_active.log")
    unread = Observation(**{**read.__dict__, "vmcore_cpus_saved": None,
                            "vmcore_regs_present": (), "vmcore_page_changed": None})
    assert compare(read, unread) == [] and compare(unread, read) == []
    lost = Observation(**{**read.__dict__, "vmcore_cpus_saved": 1,
                          "vmcore_regs_present": (True,), "vmcore_page_changed": True})
    assert {d.field for d in compare(read, lost)} == {
        "vmcore_cpus_saved", "vmcore_regs_present", "vmcore_page_changed"}
    died = Observation(**{**read.__dict__, "crash_kernel_died": True})
    assert [d.field for d in compare(read, died)] == ["crash_kernel_died"]
