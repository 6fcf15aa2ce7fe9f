"""Ray's overhead on one machine (issue 18): `panicpath compare` (the default space, every
policy) with `--workers 2` against the same command with `--ray`, as a user runs it (a fresh
process, output to a pipe), in three ways:

- local: `compare --workers 2` (a process pool of two);
- ray-start: `compare --ray` with no Ray running (the command starts a local Ray, runs the
  chunks as tasks, stops it: Ray's start and stop included);
- ray-cluster: `compare --ray 127.0.0.1:PORT` against a Ray head started beforehand with
  `ray start --head --num-cpus 2` (what a cluster user pays per command).

Prints each median wall time and its ratio to the local one, then stops the head it
started. The target is an overhead of at most 10 % (ratio <= 1.10). Needs the ray extra
(pip install 'panicpath[ray]'). Usage:

    python3 benchmarks/bench_ray.py [--runs N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))


def timed(cmd: list[str], env: dict[str, str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
        out.append(time.perf_counter() - t)
    return out


def ours(marker: str) -> list[int]:
    """Pids of the processes whose command line or environment names `marker` (the
    benchmark's temporary directory: every Ray process started here has RAY_TMPDIR below
    it)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if (marker.encode() in (d / "cmdline").read_bytes()
                        or marker.encode() in (d / "environ").read_bytes()):
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ppbench"))
    env = dict(os.environ, RAY_TMPDIR=str(tmp / "local"), RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_MODE="disabled")
    env.pop("RAY_ADDRESS", None)
    (tmp / "local").mkdir()
    base = [sys.executable, "-m", "panicpath", "compare"]
    results: dict[str, list[float]] = {}
    results["local --workers 2"] = timed([*base, "--workers", "2"], env, args.runs)
    results["--ray (starts a local Ray)"] = timed([*base, "--ray"], env, args.runs)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = subprocess.Popen([RAY, "start", "--head", f"--port={port}", "--num-cpus=2",
                             f"--temp-dir={tmp / 'head'}", "--include-dashboard=false",
                             "--disable-usage-stats"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t = time.perf_counter()
        head.wait(timeout=300)
        start = time.perf_counter() - t
        addr = f"127.0.0.1:{port}"
        timed([*base, "--no-faults", "--policy", "linux-6.1", "--ray", addr], env, 1)  # warm
        results[f"--ray {addr} (head started)"] = timed([*base, "--ray", addr], env, args.runs)
    finally:
        os.killpg(head.pid, signal.SIGKILL) if head.poll() is None else None
        for _ in range(50):
            left = [p for p in ours(str(tmp)) if p != os.getpid()]
            if not left:
                break
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        shutil.rmtree(tmp, ignore_errors=True)
    from panicpath.check.compare import count, default_space

    n = count(default_space())
    cpus = len(os.sched_getaffinity(0))
    local = statistics.median(results["local --workers 2"])
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"panicpath compare, default space ({n} configurations), {cpus} CPUs, "
          f"median of {args.runs} runs (ray start --head itself: {start:.1f} s; load average "
          f"at the end {load}: other work on the host slows every column alike):")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"  {name:<40} {med:6.2f} s  (min {min(times):.2f}, max {max(times):.2f})  "
              f"x{med / local:.2f} of local, overhead {100 * (med / local - 1):+.0f} %")


if __name__ == "__main__":
    main()
