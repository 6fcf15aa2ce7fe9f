"""Checker speed: distinct states per second and the wall time of the full seed space.

The full seed space: every policy x every default configuration (crash kernel loaded,
both post-notifier settings, every architecture, hypervisor and driver set of `compare`)
x up to 2 faults, for the property `vmcore-captured`, with 2 workers. Also reports one
policy single-worker for the per-core rate.

    python benchmarks/bench_check.py

A SPIN comparison (issue 5) needs the Promela export, which does not exist yet; the
script says so rather than printing a made-up ratio.
"""

from __future__ import annotations

import time

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
    print("SPIN end-to-end ratio: not measured (no Promela export yet)")


if __name__ == "__main__":
    main()
