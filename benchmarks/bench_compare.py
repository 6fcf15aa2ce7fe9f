"""Time `panicpath compare` with no arguments (the default space, every policy), as a user
runs it: a fresh process, output to a pipe. Prints the wall-clock figure and the size of the
space. The target is under 10 s on a 2-core machine. Usage:

    python3 benchmarks/bench_compare.py [--runs N] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args()
    cmd = [sys.executable, "-m", "panicpath", "compare"]
    if args.workers is not None:
        cmd += ["--workers", str(args.workers)]
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    from panicpath.check.compare import count, default_space

    n = count(default_space())
    cpus = len(os.sched_getaffinity(0))
    print(f"panicpath compare (default space, {n} configurations, {cpus} CPUs, "
          f"workers={args.workers or 'default'}): median {statistics.median(times):.2f} s, "
          f"min {min(times):.2f} s, max {max(times):.2f} s over {args.runs} runs")


if __name__ == "__main__":
    main()
