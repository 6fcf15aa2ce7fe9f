"""kernel/notifier.c semantics: priority order, FIFO among equals, NOTIFY_STOP_MASK, corruption."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from panicpath.model.callback import NOTIFY_DONE, NOTIFY_OK, NOTIFY_STOP, Callback
from panicpath.model.notifier import (
    CorruptNodeFault,
    build_chain,
    build_dumpers,
    call_chain,
    chain_register,
    dumper_wants,
)


def _cb(name: str, prio: int, order: int = 0, list_: str = "panic_notifier_list",
        max_reason: str = "UNDEF") -> Callback:
    return Callback(name=name, list=list_, priority=prio, order=order, max_reason=max_reason)


@given(st.lists(st.integers(min_value=-(2**31), max_value=2**31 - 1), max_size=30))
def test_chain_runs_higher_priority_first_and_equal_in_registration_order(prios: list[int]) -> None:
    """kernel/notifier.c notifier_chain_register: insertion before the first strictly lower
    priority, so the walk order is priority descending, registration order among equals."""
    cbs = [_cb(f"cb{i}", p, order=i) for i, p in enumerate(prios)]
    chain = build_chain(cbs)
    expected = sorted(cbs, key=lambda c: (-c.priority, c.order))
    assert [c.name for c in chain] == [c.name for c in expected]


def test_equal_priority_registered_later_runs_later() -> None:
    """lab/README: probe prio 0 registered after dump_kernel_offset (prio 0) runs after it."""
    chain = chain_register(chain_register((), _cb("early", 0)), _cb("late", 0))
    chain = chain_register(chain, _cb("higher", 1))
    assert [c.name for c in chain] == ["higher", "early", "late"]


def test_duplicate_registration_is_refused() -> None:
    """notifier_chain_register: the same block twice -> -EEXIST, chain unchanged."""
    a = _cb("a", 5)
    chain = chain_register(chain_register((), a), a)
    assert [c.name for c in chain] == ["a"]


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=12), st.data())
def test_stop_mask_ends_the_walk(prios: list[int], data: st.DataObject) -> None:
    """notifier_call_chain stops after the first return with NOTIFY_STOP_MASK set."""
    chain = build_chain(_cb(f"c{i}", p, i) for i, p in enumerate(prios))
    stopper = data.draw(st.integers(0, len(chain) - 1))
    called: list[str] = []

    def invoke(cb: Callback) -> int:
        called.append(cb.name)
        return NOTIFY_STOP if cb.name == chain[stopper].name else NOTIFY_OK

    ret = call_chain(chain, invoke)
    assert called == [c.name for c in chain[: stopper + 1]]
    assert ret == NOTIFY_STOP


def test_empty_chain_returns_notify_done() -> None:
    assert call_chain((), lambda cb: NOTIFY_OK) == NOTIFY_DONE


def test_corrupted_chain_faults_before_any_callback() -> None:
    called: list[str] = []
    with pytest.raises(CorruptNodeFault):
        call_chain(build_chain([_cb("a", 1)]), lambda cb: called.append(cb.name) or 0,
                   corrupt=True)
    assert called == []


@given(st.integers(min_value=0, max_value=5), st.integers(min_value=-1, max_value=5))
def test_a_corrupt_next_runs_the_chain_up_to_that_block(at: int, stop: int) -> None:
    """kernel/notifier.c notifier_call_chain() (6.1) reads next_nb = nb->next before it calls
    nb: the block whose next is corrupt still runs, the walk faults on the step after it,
    unless the chain stopped (NOTIFY_STOP) at or before that block."""
    chain = build_chain([_cb(f"n{i}", 10 - i) for i in range(6)])
    called: list[str] = []

    def invoke(cb: Callback) -> int:
        called.append(cb.name)
        return NOTIFY_STOP if cb.name == f"n{stop}" else NOTIFY_OK

    stops_first = 0 <= stop <= at
    if stops_first:
        call_chain(chain, invoke, corrupt=True, corrupt_after=f"n{at}")
        assert called == [f"n{i}" for i in range(stop + 1)]
    else:
        with pytest.raises(CorruptNodeFault):
            call_chain(chain, invoke, corrupt=True, corrupt_after=f"n{at}")
        assert called == [f"n{i}" for i in range(at + 1)]


def test_dumpers_run_in_registration_order_not_priority() -> None:
    """kmsg_dump_register appends at the tail of dump_list."""
    d = build_dumpers([_cb("b", 100, order=2, list_="kmsg_dumper"),
                       _cb("a", -100, order=1, list_="kmsg_dumper")])
    assert [c.name for c in d] == ["a", "b"]


def test_dumper_max_reason() -> None:
    """kmsg_dump: UNDEF max_reason means OOPS unless always_kmsg_dump (then MAX); reason >
    max_reason is skipped (PANIC=1 < OOPS=2 < EMERG=3)."""
    undef = _cb("u", 0, list_="kmsg_dumper")
    assert dumper_wants(undef, "PANIC")
    assert not dumper_wants(undef, "EMERG")
    assert dumper_wants(undef, "EMERG", always_kmsg_dump=True)
    panic_only = _cb("p", 0, list_="kmsg_dumper", max_reason="PANIC")
    assert dumper_wants(panic_only, "PANIC") and not dumper_wants(panic_only, "OOPS")
