"""Checker speed: distinct states per second and the wall time of the full seed space.

The full seed space: every policy x every default configuration (crash kernel loaded,
both post-notifier settings, every architecture, hypervisor and driver set of `compare`)
x up to 2 faults, for the property `vmcore-captured`, with 2 workers. Also reports one
policy single-worker for the per-core rate.

    python benchmarks/bench_check.py

Then the same questions answered by SPIN (issue 5's second opinion): the Promela export
(`panicpath export promela`), timed end to end as spin -a + cc -O0 + pan (the fastest
compiler setting for these small state spaces), against the checker's wall time, in the
same run. pan stops at its first assertion violation while the checker goes on to rank
every counterexample, so a question that holds is the like-for-like case; both kinds are
shown.

The fast explorer (`panicpath.check.fast`, `check --engine fast`: tuple states stepped one
kernel step at a time, kernel-version policies only) answers the same questions in the same
run, on one core in this process: its distinct states per second (the median of 5 runs of
the same question, each run compiling its configurations afresh), and its wall time next
to the checker's and SPIN's.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from panicpath.check.fast import FastVerdict, explore
from panicpath.check.promela import spin_verdict
from panicpath.check.search import Question, check
from panicpath.policies import POLICIES


def _fast(q: Question, runs: int = 5) -> FastVerdict:
    """The fast explorer on `q`, the run with the median time of `runs`."""
    results = sorted((explore(q) for _ in range(runs)), key=lambda v: v.seconds)
    return results[len(results) // 2]


def main() -> None:
    one = check(Question(policy="linux-6.1", prop="vmcore-captured", max_faults=2), workers=1)
    print(f"linux-6.1, vmcore-captured, <=2 faults, 1 worker: {one.distinct} distinct states, "
          f"{one.generated} generated, {one.seconds:.2f} s, "
          f"{one.states_per_second:,.0f} distinct states/s")
    for q in (Question(policy="linux-6.1", prop="vmcore-captured", max_faults=2),
              Question(policy="linux-3.15", prop="console-shows-panic", max_faults=2)):
        fv = _fast(q)
        print(f"fast explorer, {q.policy} {q.prop} <=2 faults, 1 core: {fv.distinct} distinct "
              f"states, {fv.generated} generated, {fv.seconds * 1000:.1f} ms, "
              f"{fv.states_per_second:,.0f} distinct states/s (median of 5)")
    kernels = [n for n, p in POLICIES.items()
               if not (p.steps or p.place is not None or p.setup is not None or p.lists)]
    t0 = time.perf_counter()
    fast_total = sum(explore(Question(policy=n, prop="vmcore-captured", max_faults=2)).distinct
                     for n in kernels)
    fast_wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    for n in kernels:
        check(Question(policy=n, prop="vmcore-captured", max_faults=2), workers=1)
    obj_wall = time.perf_counter() - t0
    print(f"seed space, the {len(kernels)} kernel-version policies, <=2 faults, 1 core: fast "
          f"explorer {fast_wall:.2f} s ({fast_total} distinct states, "
          f"{fast_total / fast_wall:,.0f}/s), checker {obj_wall:.2f} s")
    t0 = time.perf_counter()
    total = 0
    for name in POLICIES:
        v = check(Question(policy=name, prop="vmcore-captured", max_faults=2), workers=2)
        total += v.distinct
    wall = time.perf_counter() - t0
    print(f"full seed space ({len(POLICIES)} policies, <=2 faults, 2 workers): {total} distinct "
          f"states in {wall:.2f} s ({total / wall:,.0f} states/s)")
    if shutil.which("spin") is None or shutil.which("cc") is None:
        print("SPIN: not installed (scripts/install-deps.sh); no ratio")
        return
    for q in (Question(policy="linux-6.1", prop="vmcore-captured", max_faults=2),
              Question(policy="linux-3.15", prop="console-shows-panic", max_faults=2)):
        t0 = time.perf_counter()
        v = check(q, workers=1)
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        fv = explore(q)
        fast = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as work:
            spin = spin_verdict(q, Path(work))
        same = ("same verdict" if spin.holds == v.holds == fv.holds
                else "DIFFERENT VERDICTS")
        print(f"{q.policy} {q.prop} <=2 faults ({'holds' if v.holds else 'violated'}, {same}): "
              f"panicpath {ours:.2f} s ({v.distinct} distinct states), fast explorer "
              f"{fast:.3f} s ({fv.distinct} distinct states), SPIN end to end "
              f"{spin.seconds:.2f} s ({spin.states} states stored); SPIN/panicpath "
              f"{spin.seconds / ours:.1f}x, SPIN/fast {spin.seconds / fast:.0f}x")


if __name__ == "__main__":
    main()
