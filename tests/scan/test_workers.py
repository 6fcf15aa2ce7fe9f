"""fork_map: every task's result exactly once, worker deaths and errors reported, not hung."""

from __future__ import annotations

import os
import signal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from panicpath.scan.workers import WorkerError, fork_map


def _square(x: int) -> tuple[int, int, int]:
    return x, x * x, os.getpid()


def _lost(x: int, why: str) -> tuple[int, int, int]:
    return x, -1, 0


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(-1000, 1000), max_size=40), st.integers(1, 3))
def test_every_result_once(items: list[int], jobs: int) -> None:
    results = list(fork_map(jobs, _square, items, _lost))
    assert sorted((x, y) for x, y, _ in results) == sorted((x, x * x) for x in items)


def test_runs_in_other_processes() -> None:
    pids = {pid for _, _, pid in fork_map(2, _square, list(range(20)), _lost)}
    assert os.getpid() not in pids


def _die_on_seven(x: int) -> tuple[int, int, int]:
    if x == 7:
        os.kill(os.getpid(), signal.SIGKILL)
    return x, x * x, os.getpid()


def test_dead_worker_loses_only_its_task() -> None:
    """multiprocessing.Pool would wait forever here: the task of a killed worker never returns."""
    results = sorted(fork_map(2, _die_on_seven, list(range(30)), _lost))
    assert [(x, y) for x, y, _ in results] == [(x, -1 if x == 7 else x * x) for x in range(30)]


def _die_always(x: int) -> tuple[int, int, int]:
    os.kill(os.getpid(), signal.SIGKILL)
    return x, 0, 0


def test_all_workers_dying_still_ends_with_every_task_lost() -> None:
    results = sorted(fork_map(2, _die_always, list(range(5)), _lost))
    assert [(x, y) for x, y, _ in results] == [(x, -1) for x in range(5)]


def _raise_on_three(x: int) -> tuple[int, int, int]:
    if x == 3:
        raise ValueError("boom at three")
    return x, x, 0


def test_exception_in_a_task_is_raised_with_the_worker_traceback() -> None:
    with pytest.raises(WorkerError, match="boom at three"):
        list(fork_map(2, _raise_on_three, list(range(10)), _lost))


def test_serial_when_one_job() -> None:
    results = list(fork_map(1, _square, [1, 2, 3], _lost))
    assert results == [(1, 1, os.getpid()), (2, 4, os.getpid()), (3, 9, os.getpid())]
