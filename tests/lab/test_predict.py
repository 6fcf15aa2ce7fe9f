"""The model's prediction against the real captures in tests/data (copied from
../shared/reference/lab/logs): each capture's configuration, predicted by the model,
must agree with what the console parser observed in the real kernel's log."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.lab.console import read_log
from panicpath.lab.observation import compare, observe
from panicpath.lab.predict import predict, to_model
from panicpath.lab.scenario import DumperProbe, LabScenario, NotifierProbe

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


def test_small_crashkernel_loads_no_crash_image() -> None:
    """lab/README: 96M was the smallest reservation that held the crash kernel."""
    assert not to_model(LabScenario(name="x", crashkernel_size="32M")).kdump
    assert to_model(LabScenario(name="x", crashkernel_size="256M")).kdump
