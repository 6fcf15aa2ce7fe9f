"""Run a function over a list in forked worker processes, with no threads in the parent.

The scan's parallel phase is ~220 small tasks. ``multiprocessing.Pool`` feeds
and drains them through three parent threads (task, result and worker
handlers) that pass the GIL back and forth on every task; on this project's
2-core machine that cost 0.1-0.15 CPU seconds of a ~1.1 s scan, on the cores
the workers need. Here the workers take the next index from a shared counter
(tasks are inherited through fork, in the caller's order, so largest-first
scheduling is kept) and send each result down their own pipe; the parent only
waits on those pipes.

A worker that dies (killed, or a crash in a C extension) loses only the task it
held: the caller's ``lost`` function turns that task into an error result, and
tasks nobody claimed run in a fresh round of workers. ``multiprocessing.Pool``
would wait forever for a task whose worker died.
"""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.sharedctypes import Synchronized
from typing import TypeVar

__all__ = ["WorkerError", "fork_map"]

_A = TypeVar("_A")
_R = TypeVar("_R")


class WorkerError(RuntimeError):
    """A task raised in a worker; carries the worker's traceback text."""


def fork_map(jobs: int, func: Callable[[_A], _R], items: list[_A],
             lost: Callable[[_A, str], _R]) -> Iterator[_R]:
    """``func`` over ``items`` in up to ``jobs`` forked processes; results in completion order.

    ``lost(item, why)`` stands in for the result of a task whose worker died
    while running it. An exception raised by ``func`` is re-raised in the
    parent as :class:`WorkerError` (after the workers are reaped).
    """
    if jobs <= 1 or len(items) <= 1:
        yield from (func(item) for item in items)
        return
    pending = list(range(len(items)))
    while pending:
        round_items = [items[i] for i in pending]
        done: set[int] = set()
        end = _RoundEnd(0, "")
        for event in _run_round(min(jobs, len(round_items)), func, round_items):
            if isinstance(event, _RoundEnd):
                end = event
                break
            done.add(event[0])
            yield event[1]
        why = end.deaths or "worker process exited"
        # No task claimed at all (workers that could not start): give up on the rest.
        claimed = end.claimed if end.claimed > 0 else len(round_items)
        for local in range(claimed):
            if local not in done:
                yield lost(round_items[local], why)
        pending = [pending[local] for local in range(claimed, len(round_items))]


@dataclass(frozen=True)
class _RoundEnd:
    """How many tasks the round's workers claimed, and why any of them died."""

    claimed: int
    deaths: str


def _run_round(jobs: int, func: Callable[[_A], _R],
               items: list[_A]) -> Iterator[tuple[int, _R] | _RoundEnd]:
    """Yield (index, result) per finished task, then a :class:`_RoundEnd`."""
    ctx = multiprocessing.get_context("fork")
    counter: Synchronized[int] = ctx.Value("q", 0)
    procs: list[multiprocessing.process.BaseProcess] = []
    conns: list[Connection] = []
    try:
        for _ in range(jobs):
            reader, writer = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_drain, args=(func, items, counter, writer), daemon=True)
            proc.start()
            writer.close()  # before the next fork, so EOF means this worker is gone
            procs.append(proc)
            conns.append(reader)
        failure: str | None = None
        live = list(conns)
        while live:
            for conn in wait(live):
                assert isinstance(conn, Connection)
                try:
                    index, ok, payload = conn.recv()
                except (EOFError, OSError):
                    live.remove(conn)
                    continue
                if ok:
                    yield index, payload
                elif failure is None:
                    failure = str(payload)
        for worker in procs:
            worker.join()
        if failure is not None:
            raise WorkerError(failure)
        deaths = [f"worker process exited with status {p.exitcode}" for p in procs
                  if p.exitcode not in (0, None)]
        with counter.get_lock():
            claimed = min(counter.value, len(items))
        yield _RoundEnd(claimed, "; ".join(deaths))
    finally:
        for worker in procs:
            if worker.is_alive():
                worker.kill()
                worker.join()
        for conn in conns:
            conn.close()


def _drain(func: Callable[[_A], object], items: list[_A], counter: Synchronized[int],
           conn: Connection) -> None:
    """Worker loop: claim the next index, run it, send (index, ok, result or traceback)."""
    status = 0
    try:
        while True:
            with counter.get_lock():
                index = counter.value
                if index >= len(items):
                    break
                counter.value = index + 1
            try:
                conn.send((index, True, func(items[index])))
            except Exception:  # reported to the parent, which re-raises
                conn.send((index, False, traceback.format_exc()))
                break
        conn.close()
    except BaseException:  # e.g. the parent went away: nothing to report to
        status = 1
    finally:
        os._exit(status)  # skip the inherited parent's atexit handlers and buffers
