"""Scenarios simulated per second by `panicpath run`'s engine.

Runs the compare space (every policy, architecture, hypervisor, driver set, kdump,
post-notifier setting and single fault) once, single process, and reports
scenarios/s for the whole run (build + execute + properties) and, as a peer in the
same process, for `build()` alone (registration, boot effects, faults), so the
share of time spent executing panic() is visible.

    python benchmarks/bench_run.py
"""

from __future__ import annotations

import time

from panicpath.check.space import Space, configurations
from panicpath.engine import build, simulate
from panicpath.policies import POLICIES


def main() -> None:
    scenarios = list(configurations(Space(policies=tuple(POLICIES))))
    n = len(scenarios)
    for s in scenarios[:200]:
        simulate(s)
    t0 = time.perf_counter()
    for s in scenarios:
        build(s)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    for s in scenarios:
        simulate(s)
    t_run = time.perf_counter() - t0
    print(f"scenarios: {n}")
    print(f"simulate (build + panic path + properties): {n / t_run:,.0f} scenarios/s "
          f"({t_run:.2f} s)")
    print(f"build only (peer): {n / t_build:,.0f} scenarios/s ({t_build:.2f} s)")
    print(f"ratio simulate/build time: {t_run / t_build:.2f}x")


if __name__ == "__main__":
    main()
