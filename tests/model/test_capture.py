"""The capture kernel's phase (model/capture.py): what it needs of its crashkernel=
reservation, in the object engine, the fast explorer and the Promela export alike."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panicpath.check.fast import explore
from panicpath.check.promela import spin_verdict
from panicpath.check.search import Question, check
from panicpath.engine import build, execute, simulate
from panicpath.inputs import InputError, check_param_value
from panicpath.model.capture import capture_memory_short, crash_image_fits, reservation_mib
from panicpath.model.scenario import Scenario

NEEDS = (57, 76)
"""The sizes the lab measured for Debian 6.1.0 cloud-amd64 and the lab's crash initramfs
(docs/lab.md "The vmcore read back": 56M does not load, 57M-75M die, 76M works)."""


def _run(reserve: str | None, needs: tuple[int, int] = NEEDS, post: str = "0") -> tuple[
        str, bool, bool]:
    params = [("crash_kexec_post_notifiers", post)]
    if reserve is not None:
        params.append(("crashkernel", reserve))
    run = build(Scenario(policy="linux-6.1", arch="x86_64", params=tuple(params),
                         capture_needs_mib=needs, drivers=("pvpanic",)))
    result = execute(run)
    return result.end, run.machine.crash_image_loaded, result.properties["vmcore-captured"]


def test_a_reservation_smaller_than_the_image_loads_no_crash_kernel() -> None:
    """kexec-tools finds no hole: no crash image, so panic() runs on as without kdump
    (pvpanic reports PANICKED, QEMU's action ends the path) and nothing is captured."""
    end, loaded, captured = _run("56M")
    assert not loaded and not captured
    assert end not in ("capture-kernel", "capture-failed")


def test_a_reservation_that_loads_but_is_too_small_to_boot_in_kills_the_capture_kernel() -> None:
    """Between the two sizes the image loads, kdump hands over, and the capture kernel dies
    of OOM before its dump tool: capture-failed, no vmcore (docs/lab.md: 57M-75M)."""
    for reserve in ("57M", "64M", "75M"):
        end, loaded, captured = _run(reserve)
        assert (end, loaded, captured) == ("capture-failed", True, False), reserve


def test_a_reservation_of_the_boot_size_captures() -> None:
    assert _run("76M")[::2] == ("capture-kernel", True)
    assert _run("1G")[::2] == ("capture-kernel", True)


def test_no_reservation_given_or_no_needs_known_fits() -> None:
    """Without crashkernel= in the scenario (the model's default machine) or with needs
    (0, 0) (not measured), every reservation does: the model's earlier behaviour."""
    assert _run(None)[::2] == ("capture-kernel", True)
    assert _run("1M", needs=(0, 0))[::2] == ("capture-kernel", True)


def test_the_trace_says_why() -> None:
    r = simulate(Scenario(params=(("crashkernel", "64M"),), capture_needs_mib=NEEDS))
    assert any("out of memory" in e.effect and "crashkernel=64M" in e.effect
               for e in r.trace)
    r = simulate(Scenario(params=(("crashkernel", "48M"),), capture_needs_mib=NEEDS))
    assert any(e.event == "kexec_load" and "not loaded" in e.effect for e in r.trace)


@pytest.mark.parametrize(("raw", "mib"), [("64M", 64), ("0x40M", 64), ("1G", 1024),
                                          ("65536K", 64), ("67108864", 64)])
def test_crashkernel_sizes_read_as_memparse_does(raw: str, mib: int) -> None:
    assert reservation_mib(Scenario(params=(("crashkernel", raw),))) == mib


@pytest.mark.parametrize("raw", ["64X", "", "64M@16M", "512M-2G:64M", "0", "-1M", "2T"])
def test_crashkernel_forms_the_model_does_not_read_are_refused(raw: str) -> None:
    with pytest.raises(InputError):
        check_param_value("crashkernel", raw)


OUTCOME = {"not-loaded": 0, "capture-failed": 1, "capture-kernel": 2}


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.integers(0, 300), st.integers(0, 300), st.integers(1, 300))
def test_outcome_is_monotone_in_the_reservation(load: int, extra: int, a: int, b: int) -> None:
    """More reserved memory never makes the capture worse: not loaded, then dies, then
    works, for any needs."""
    needs = (load, load + extra)

    def rank(mib: int) -> int:
        scn = Scenario(params=(("crashkernel", f"{mib}M"),), capture_needs_mib=needs)
        if not crash_image_fits(scn):
            return 0
        return 1 if capture_memory_short(scn) else 2

    small, big = sorted((a + 1, b))
    assert rank(small) <= rank(big)
    assert (rank(small) == 2) == (small >= needs[1] and small >= needs[0])


def _question(reserve: str, prop: str = "vmcore-captured") -> Question:
    return Question(policy="linux-6.1", prop=prop, arches=("x86_64",), hypervisors=("none",),
                    driver_sets=(("pvpanic",),), kdump=(True,), post_notifiers=("0", "1"),
                    max_faults=0, params=(("crashkernel", reserve),), capture_needs_mib=NEEDS)


@pytest.mark.parametrize(("reserve", "holds"), [("48M", False), ("64M", False), ("80M", True)])
def test_the_fast_explorer_agrees(reserve: str, holds: bool) -> None:
    q = _question(reserve)
    assert check(q).holds is explore(q).holds is holds
    q = _question(reserve, "dump-target-reachable")
    assert check(q).holds is explore(q).holds


@pytest.mark.skipif(shutil.which("spin") is None or shutil.which("cc") is None,
                    reason="spin/gcc missing: run scripts/install-deps.sh")
@pytest.mark.parametrize(("reserve", "holds"), [("48M", False), ("64M", False), ("80M", True)])
def test_spin_agrees(reserve: str, holds: bool, tmp_path: Path) -> None:
    q = _question(reserve)
    assert spin_verdict(q, tmp_path).holds is check(q).holds is holds
