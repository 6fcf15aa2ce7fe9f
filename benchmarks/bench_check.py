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
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from panicpath.check.promela import spin_verdict
from panicpath.check.search import Question, check
from panicpath.policies import POLICIES


def main() -> None:
    one = check(Question(policy="linux-6.1", prop="vmcore-captured", max_faults=2), workers=1)
    print(f"linux-6.1, vmcore-captured, <=2 faults, 1 worker: {one.distinct} distinct states, "
          f"{one.generated} generated, {one.seconds:.2f} s, "
          f"{one.states_per_second:,.0f} distinct states/s")
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
        with tempfile.TemporaryDirectory() as work:
            spin = spin_verdict(q, Path(work))
        same = "same verdict" if spin.holds == v.holds else "DIFFERENT VERDICTS"
        print(f"{q.policy} {q.prop} <=2 faults ({'holds' if v.holds else 'violated'}, {same}): "
              f"panicpath {ours:.2f} s ({v.distinct} distinct states), SPIN end to end "
              f"{spin.seconds:.2f} s ({spin.states} states stored); SPIN/panicpath "
              f"{spin.seconds / ours:.1f}x")


if __name__ == "__main__":
    main()
