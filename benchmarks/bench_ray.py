"""Ray's overhead on one machine (issue 18), as a user runs each command (a fresh process,
output to a pipe), for `panicpath compare` (the default space, every policy) and for
`panicpath lab campaign` (four short shipped x86_64 scenarios, restored from snapshots),
each in three ways:

- local: `compare --workers 2` (a process pool of two), `lab campaign --jobs 2` (two
  guests at once);
- ray-start: `--ray` with no Ray running (the command starts a local Ray, with two qemu
  slots for the campaign, runs the chunks or cycles as tasks, stops it: Ray's start and
  stop included);
- ray-cluster: `--ray 127.0.0.1:PORT` against a Ray head started beforehand with
  `ray start --head --num-cpus 2 --resources '{"qemu": 2}'` (what a cluster user pays per
  command).

Prints each median wall time and its ratio to the local one, then stops the head it
started. The target is an overhead of at most 10 % (ratio <= 1.10). Needs the ray extra
(pip install 'panicpath[ray]') and, for the campaign, the lab's set-up (QEMU; the first,
untimed, local campaign fills the lab cache and the snapshots). Usage:

    python3 benchmarks/bench_ray.py [--runs N] [--lab-runs N] [--only compare|lab]
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


LAB_SCENARIOS = ("ipi_deaf_cpu_no_kdump", "kdump_no_post_notifiers", "no_kdump_panic_none",
                 "portable_no_kdump_host_runs_on")
"""The campaign timed: the four short x86_64 cycles tests/lab/test_ray_campaign.py runs."""


def report(title: str, results: dict[str, list[float]], runs: int) -> None:
    local = statistics.median(next(iter(results.values())))
    print(f"{title}, median of {runs} runs:")
    for name, times in results.items():
        med = statistics.median(times)
        print(f"  {name:<40} {med:6.2f} s  (min {min(times):.2f}, max {max(times):.2f})  "
              f"x{med / local:.2f} of local, overhead {100 * (med / local - 1):+.0f} %")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3, help="runs of each compare")
    ap.add_argument("--lab-runs", type=int, default=3, help="runs of each lab campaign")
    ap.add_argument("--only", choices=("compare", "lab"), default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ppbench"))
    env = dict(os.environ, RAY_TMPDIR=str(tmp / "local"), RAY_USAGE_STATS_ENABLED="0",
               RAY_AUTH_MODE="disabled",
               RAY_kill_child_processes_on_worker_exit_with_raylet_subreaper="true")
    env.pop("RAY_ADDRESS", None)
    (tmp / "local").mkdir()
    base = [sys.executable, "-m", "panicpath", "compare"]
    from panicpath.lab.scenario import builtin_scenarios_dir

    scenarios = tmp / "scenarios"
    scenarios.mkdir()
    for name in LAB_SCENARIOS:
        shutil.copy(builtin_scenarios_dir() / f"{name}.toml", scenarios)
    lab = [sys.executable, "-m", "panicpath", "lab", "campaign", str(scenarios), "--out",
           str(tmp / "campaign")]
    do_compare, do_lab = args.only in (None, "compare"), args.only in (None, "lab")
    results: dict[str, list[float]] = {}
    labs: dict[str, list[float]] = {}
    if do_compare:
        results["local --workers 2"] = timed([*base, "--workers", "2"], env, args.runs)
        results["--ray (starts a local Ray)"] = timed([*base, "--ray"], env, args.runs)
    if do_lab:
        timed([*lab, "--jobs", "2"], env, 1)  # the lab cache and the snapshots, untimed
        labs["local --jobs 2"] = timed([*lab, "--jobs", "2"], env, args.lab_runs)
        labs["--ray (starts a local Ray, 2 qemu slots)"] = timed([*lab, "--ray"], env,
                                                                 args.lab_runs)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = subprocess.Popen([RAY, "start", "--head", f"--port={port}", "--num-cpus=2",
                             '--resources={"qemu": 2}',
                             f"--temp-dir={tmp / 'head'}", "--include-dashboard=false",
                             "--disable-usage-stats"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t = time.perf_counter()
        head.wait(timeout=300)
        start = time.perf_counter() - t
        addr = f"127.0.0.1:{port}"
        timed([*base, "--no-faults", "--policy", "linux-6.1", "--ray", addr], env, 1)  # warm
        if do_compare:
            results[f"--ray {addr} (head started)"] = timed([*base, "--ray", addr], env,
                                                            args.runs)
        if do_lab:
            labs[f"--ray {addr} (head started)"] = timed([*lab, "--ray", addr], env,
                                                         args.lab_runs)
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

    cpus = len(os.sched_getaffinity(0))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{cpus} CPUs; ray start --head itself: {start:.1f} s; load average at the end "
          f"{load} (other work on the host slows every column alike)")
    if results:
        report(f"panicpath compare, default space ({count(default_space())} configurations)",
               results, args.runs)
    if labs:
        report(f"panicpath lab campaign, {len(LAB_SCENARIOS)} x86_64 scenarios restored from "
               "snapshots", labs, args.lab_runs)


if __name__ == "__main__":
    main()
