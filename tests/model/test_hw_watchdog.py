"""A watchdog device nobody stops (catalog driver i6300esb): it resets the machine when the
dump outlasts its heartbeat, in the object engine, the fast explorer and SPIN alike."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from panicpath.check.fast import explore
from panicpath.check.search import Question, check
from panicpath.engine import simulate
from panicpath.model.capture import CAPTURE_BOOT_MS
from panicpath.model.scenario import Scenario


def _scn(heartbeat: int | None, dump_ms: int, kdump: bool = True) -> Scenario:
    params = (("i6300esb.heartbeat", str(heartbeat)),) if heartbeat is not None else ()
    return Scenario(drivers=("i6300esb",), params=params, dump_copy_ms=dump_ms, kdump=kdump)


@pytest.mark.parametrize(("heartbeat", "dump_ms", "fires"), [
    (8, 30_000, True),        # expires 8 s after the panic, the dump ends at 5 + 30 s
    (20, 3_000, False),       # the dump ends at 5 + 3 s
    (None, 20_000, False),    # default heartbeat 30 s, dump done at 25 s
    (None, 30_000, True),     # default heartbeat 30 s, dump done at 35 s
])
def test_the_dump_races_the_heartbeat(heartbeat: int | None, dump_ms: int, fires: bool) -> None:
    r = simulate(_scn(heartbeat, dump_ms))
    assert (r.end == "watchdog-reset") is fires
    assert r.properties["vmcore-captured"] is not fires
    assert r.applicable["watchdog-quiesced"] and r.properties["watchdog-quiesced"] is not fires
    if fires:
        assert "i6300esb watchdog" in r.trace[-1].effect


def test_the_boundary_is_the_capture_boot_plus_the_dump() -> None:
    """Expiry (heartbeat after the panic's last keepalive) against the dump's end (handover
    + the capture kernel's boot + the dump): one millisecond decides."""
    at = simulate(_scn(10, 10_000 - CAPTURE_BOOT_MS))
    assert at.end == "capture-kernel"
    assert simulate(_scn(10, 10_000 - CAPTURE_BOOT_MS + 50)).end == "watchdog-reset"


def test_without_a_crash_kernel_the_property_does_not_apply() -> None:
    r = simulate(_scn(8, 30_000, kdump=False))
    assert r.end != "watchdog-reset" and not r.applicable["watchdog-quiesced"]


def _question(heartbeat: int, dump_ms: int) -> Question:
    return Question(policy="linux-6.1", prop="watchdog-quiesced", arches=("x86_64",),
                    hypervisors=("none",), driver_sets=(("i6300esb",),), kdump=(True,),
                    max_faults=1, params=(("i6300esb.heartbeat", str(heartbeat)),),
                    dump_copy_ms=dump_ms)


@pytest.mark.parametrize(("heartbeat", "dump_ms"), [(8, 30_000), (20, 3_000), (2046, 20_000)])
def test_fast_explorer_agrees_with_the_checker(heartbeat: int, dump_ms: int) -> None:
    q = _question(heartbeat, dump_ms)
    assert explore(q).holds == check(q).holds == (heartbeat * 1000 >= dump_ms + CAPTURE_BOOT_MS)


@pytest.mark.skipif(shutil.which("spin") is None or shutil.which("cc") is None,
                    reason="spin/gcc missing: run scripts/install-deps.sh")
@pytest.mark.parametrize(("heartbeat", "dump_ms"), [(8, 30_000), (20, 3_000)])
def test_spin_agrees_with_the_checker(heartbeat: int, dump_ms: int, tmp_path: Path) -> None:
    from panicpath.check.promela import spin_verdict

    q = _question(heartbeat, dump_ms)
    assert spin_verdict(q, tmp_path / "spin").holds == check(q).holds
