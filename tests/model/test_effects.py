"""model/effects.py check_need: a trylock retried for a while (Need.wait_ms), in the engine,
the fast explorer and SPIN alike."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from panicpath.check.fast import explore
from panicpath.check.promela import spin_verdict
from panicpath.check.search import Question, check
from panicpath.engine import simulate
from panicpath.model.callback import Callback, Effect, Need
from panicpath.model.scenario import Scenario


def _cb(wait_ms: int) -> Callback:
    return Callback(name="locker", list="panic_notifier_list", priority=0, order=100,
                    needs=(Need("trylock", "probe_lock", wait_ms),),
                    effects=(Effect("print", "locker ran"),))


def _run(wait_ms: int, held: bool = True) -> tuple[str, int, bool, list[str]]:
    r = simulate(Scenario(params=(("crash_kexec_post_notifiers", "1"),),
                          user_callbacks=(_cb(wait_ms),), path_bound_ms=20_000,
                          faults=("lock-held-by-stopped-cpu=probe_lock",) if held else ()))
    handover = next(e.t_ms for e in r.trace if e.event == "machine_kexec")
    return r.end, handover, r.properties["path-bounded"], list(r.console)


def test_a_held_lock_costs_the_wait_then_the_work_is_skipped() -> None:
    end0, t0, _, console0 = _run(0)
    end, t, bounded, console = _run(5_000)
    assert end == end0 == "capture-kernel" and bounded
    assert t - t0 == 5_000
    assert "locker ran" not in console and "locker ran" not in console0


def test_a_wait_past_the_path_bound_leaves_the_path_unbounded() -> None:
    """The lab's lock notifier with a timeout longer than its panic phase: the kernel is
    still trying when the phase ends (hung), then goes on to kdump."""
    end, _, bounded, _ = _run(25_000)
    assert end == "capture-kernel" and not bounded


def test_a_free_lock_costs_nothing() -> None:
    _, t, bounded, console = _run(25_000, held=False)
    assert bounded and "locker ran" in console and t == _run(0, held=False)[1]


def _question(wait_ms: int) -> Question:
    return Question(policy="linux-6.1", prop="path-bounded", arches=("x86_64",),
                    hypervisors=("none",), driver_sets=((),), kdump=(True,),
                    post_notifiers=("1",), max_faults=1, user_callbacks=(_cb(wait_ms),),
                    fault_names=("lock-held-by-stopped-cpu",))


@pytest.mark.parametrize(("wait_ms", "holds"), [(500, True), (61_000, False)])
def test_fast_and_spin_agree(wait_ms: int, holds: bool, tmp_path: Path) -> None:
    q = _question(wait_ms)
    assert check(q).holds is explore(q).holds is holds
    if shutil.which("spin") and shutil.which("cc"):
        assert spin_verdict(q, tmp_path).holds is holds
