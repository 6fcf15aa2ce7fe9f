#!/usr/bin/env python3
"""Benchmark `--tree`: a kernel tree as a model, the first time and from the cache.

Prints, end to end (each a `panicpath` process, as a user runs it):

- `scan PATH --json` without and with `--policy-out` (the derivation of panic()) on
  Debian's cut 6.1 source (`scan --source 6.1`'s cached tree), the extracted 6.1 tree
  and the 6.1 tarball (`/usr/src/linux-source-6.1.tar.xz`, the scan's own tarball cache
  off: `--no-cache`);
- `compare --tree PATH` the first time (empty caches: derive and scan) and again (the
  tree's cache), against `compare --policy-file F` of the same derived policy;
- `check --tree TARBALL --property vmcore-captured --max-faults 1` the first time and
  cached (issue 17's target: <= 20 s on 2 cores).

"First time" runs get a fresh `$PANICPATH_CACHE` and `$XDG_CACHE_HOME`, so neither the
tree cache nor the scanner's tarball cache helps them. Usage:

    python3 benchmarks/bench_tree.py [--series 6.1] [--tarball PATH] [--tree DIR]
                                     [--repeat 3] [--no-full]

The extracted tree defaults to ~/.cache/panicpath/linux-source-6.1 (extracted once, not
timed, as benchmarks/bench_scan.py does); --no-full skips the extracted tree and the
tarball (the cut source only, about 30 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_scan import ensure_tree  # noqa: E402

from panicpath.scan.kernel_sources import ensure_source  # noqa: E402

COMPARE = ["--policy", "linux-6.1", "--json"]


def timed(args: list[str], env: dict[str, str] | None = None) -> float:
    """Seconds one `panicpath ARGS` takes; the command must succeed (exit 0 or 12)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "panicpath", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=False)
    dt = time.perf_counter() - t0
    if proc.returncode not in (0, 12):
        raise SystemExit(f"panicpath {' '.join(args)}: exit {proc.returncode}\n"
                         f"{proc.stderr[-800:]}")
    return dt


def fresh() -> dict[str, str]:
    """Empty caches for a first-time run."""
    tmp = tempfile.mkdtemp(prefix="bench-tree-")
    return {"PANICPATH_CACHE": f"{tmp}/cache", "XDG_CACHE_HOME": f"{tmp}/xdg"}


def median(args: list[str], repeat: int, env: dict[str, str] | None = None) -> tuple[float,
                                                                                     list[float]]:
    runs = [timed(args, env) for _ in range(repeat)]
    return statistics.median(runs), runs


def show(label: str, value: float, runs: list[float] | None = None) -> None:
    extra = f"  ({' / '.join(f'{r:.2f}' for r in runs)})" if runs and len(runs) > 1 else ""
    print(f"  {label:58} {value:7.2f} s{extra}", flush=True)


def scan_pair(path: Path, repeat: int, out: Path, no_cache: bool) -> None:
    extra = ["--no-cache"] if no_cache else []
    plain, r1 = median(["scan", str(path), "--json", *extra], repeat)
    derived, r2 = median(["scan", str(path), "--json", "--policy-out", str(out), *extra], repeat)
    show("scan --json", plain, r1)
    show("scan --json --policy-out F", derived, r2)
    show("  the derivation adds", derived - plain)


def tree_runs(path: Path, repeat: int, policy_file: Path) -> None:
    env = fresh()
    first = timed(["compare", "--tree", str(path), *COMPARE], env)
    again, runs = median(["compare", "--tree", str(path), *COMPARE], repeat, env)
    by_file, fr = median(["compare", "--policy-file", str(policy_file), *COMPARE], repeat)
    show("compare --tree (first time: derive + scan + compare)", first)
    show("compare --tree (cached)", again, runs)
    show("compare --policy-file F (the derived policy, no tree)", by_file, fr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", default="6.1")
    ap.add_argument("--tarball", type=Path, default=Path("/usr/src/linux-source-6.1.tar.xz"))
    ap.add_argument("--tree", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-full", action="store_true")
    args = ap.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-tree-out-"))
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          f"median of {args.repeat} where repeated", flush=True)

    cut = ensure_source(args.series)
    print(f"Debian linux-source-{args.series}, cut to the panic path ({cut.name}):")
    scan_pair(cut, args.repeat, out / "cut.toml", no_cache=False)
    tree_runs(cut, args.repeat, out / "cut.toml")

    if args.no_full or not args.tarball.is_file():
        if not args.no_full:
            print(f"{args.tarball}: missing (apt-get install linux-source-6.1); skipped")
        return
    full = ensure_tree(args.tarball, args.tree)
    print(f"the extracted tree ({full}):")
    scan_pair(full, args.repeat, out / "full.toml", no_cache=False)
    tree_runs(full, args.repeat, out / "full.toml")

    print(f"the tarball ({args.tarball}, scanner cache off):")
    scan_pair(args.tarball, 1, out / "tar.toml", no_cache=True)
    env = fresh()
    check = ["check", "--tree", str(args.tarball), "--property", "vmcore-captured",
             "--max-faults", "1", "--workers", "2"]
    show("check --tree TARBALL --max-faults 1 (first time)", timed(check, env))
    value, runs = median(check, args.repeat, env)
    show("check --tree TARBALL --max-faults 1 (cached)", value, runs)
    value, runs = median(["check", "--policy-file", str(out / "tar.toml"),
                          *check[3:]], args.repeat)
    show("check --policy-file F --max-faults 1 (the derived policy)", value, runs)


if __name__ == "__main__":
    main()
