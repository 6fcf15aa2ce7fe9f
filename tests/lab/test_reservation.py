"""lab/reservation.py: the bisection that measures a crash kernel's needs (its logic over a
known outcome function; the real measurement is tests/lab/test_predict.py's
capture_needs fixture, which boots the kernel)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panicpath.lab.archive import LabSetupError
from panicpath.lab.reservation import (
    CaptureNeeds,
    bisect_needs,
    cached_needs,
    calibration_scenario,
    measure_needs,
    needs_measurement,
    outcome_of,
)
from panicpath.lab.scenario import LabScenario


def _kernel(load: int, boot: int) -> Callable[[int], str]:
    def probe(mib: int) -> str:
        return "not-loaded" if mib < load else "died" if mib < boot else "works"
    return probe


@given(st.integers(2, 256), st.integers(0, 200))
def test_bisection_finds_both_sizes_in_few_cycles(load: int, extra: int) -> None:
    boot = min(256, load + extra)
    got_load, got_boot, tried = bisect_needs(_kernel(load, boot))
    assert (got_load, got_boot) == (load, boot)
    assert len(tried) == len({m for m, _ in tried})  # no reservation run twice
    assert len(tried) <= 2 * math.ceil(math.log2(256)) + 1


def test_a_kernel_that_fails_at_the_top_is_refused() -> None:
    with pytest.raises(LabSetupError, match="does not work even in crashkernel=256M"):
        bisect_needs(_kernel(300, 300))


def test_outcomes_that_are_not_monotone_are_refused() -> None:
    def flaky(mib: int) -> str:
        return "works" if mib in (256, 128) else "died" if mib == 64 else "not-loaded"
    with pytest.raises(LabSetupError, match="not monotone"):
        bisect_needs(flaky)


def test_outcome_of_a_cycle() -> None:
    assert outcome_of(False, False, False, True, "x") == "not-loaded"
    assert outcome_of(True, True, False, True, "x") == "died"
    assert outcome_of(True, False, True, True, "x") == "works"
    with pytest.raises(LabSetupError, match="calibration cycle failed: log"):
        outcome_of(True, False, False, False, "log")


def test_only_small_reservations_need_measuring() -> None:
    assert needs_measurement(LabScenario(name="x", crashkernel_size="64M"))
    assert not needs_measurement(LabScenario(name="x", crashkernel_size="256M"))
    assert not needs_measurement(LabScenario(name="x", crashkernel_size="1G"))
    assert not needs_measurement(LabScenario(name="x", crashkernel_size="64M",
                                             crash_kernel=False))


def test_the_calibration_cycle_is_the_scenarios_kernel_and_nothing_else() -> None:
    sc = calibration_scenario(LabScenario(name="x", release="6.12", arch="arm64",
                                          flavour="cloud-arm64", crashkernel_size="64M",
                                          post_notifiers=True, cpus=4), 80)
    assert (sc.release, sc.arch, sc.flavour, sc.crashkernel_size) == (
        "6.12", "arm64", "cloud-arm64", "80M")
    assert not sc.has_probe and not sc.pvpanic and not sc.post_notifiers


def test_measured_once_then_cached(tmp_path: Path) -> None:
    calls: list[str] = []

    def cycle(sc: LabScenario) -> str:
        calls.append(sc.crashkernel_size)
        return _kernel(57, 76)(int(sc.crashkernel_size[:-1]))

    lab = LabScenario(name="x", crashkernel_size="64M")
    assert cached_needs(lab, tmp_path) is None
    got = measure_needs(lab, cycle, abi="6.1.0-test", cache=tmp_path)
    assert got.mib == (57, 76) and got.abi == "6.1.0-test"
    n = len(calls)
    again = measure_needs(lab, cycle, cache=tmp_path)
    assert again == got and len(calls) == n
    assert isinstance(cached_needs(lab, tmp_path), CaptureNeeds)
    other = LabScenario(name="x", release="6.12", crashkernel_size="64M")
    assert cached_needs(other, tmp_path) is None


def test_measuring_from_inside_an_event_loop(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    """`lab campaign` and `lab matrix` prepare their scenarios inside an event loop, where a
    cycle's own asyncio.run() would fail ("cannot be called from a running event loop"):
    the cycles run in a thread of their own. (The cycles here are stand-ins; the real ones
    are the capture_needs fixture's.)"""
    import asyncio
    from types import SimpleNamespace

    from panicpath.lab import runner

    def fake_run(sc: LabScenario, *args: object, **kwargs: object) -> object:
        asyncio.run(asyncio.sleep(0))  # what the real run_scenario does
        outcome = _kernel(57, 76)(int(sc.crashkernel_size[:-1]))
        obs = SimpleNamespace(crash_kernel_loaded=outcome != "not-loaded",
                              crash_kernel_died=outcome == "died",
                              vmcore_seen=outcome == "works")
        return SimpleNamespace(observation=obs,
                               result=SimpleNamespace(ok=True, summary=lambda: "fake"))

    monkeypatch.setenv("PANICPATH_CACHE", str(tmp_path))
    monkeypatch.setattr(runner, "run_scenario", fake_run)
    monkeypatch.setattr(runner, "ensure_kernel",
                        lambda *a, **k: SimpleNamespace(release="6.1.0-test"))

    async def campaign() -> CaptureNeeds:
        return runner.measure_capture_needs(LabScenario(name="x", crashkernel_size="64M"))

    assert asyncio.run(campaign()).mib == (57, 76)
