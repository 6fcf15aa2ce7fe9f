"""Lab speed: one full panic -> kdump cycle through the harness vs a bare QEMU
command line doing the same, in the same run, and two guests side by side.

    python benchmarks/bench_lab.py [--repeat 3] [--scenario FILE]

Setup (kernel download, initrd, probe build) is done once before timing. The
bare run is the same QEMU argv without QMP, console to a file, until QEMU exits
(the crash kernel powers the VM off); the harness run ends at the same point.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import time
from pathlib import Path

from panicpath.lab.runner import Prepared, prepare, run_prepared_async
from panicpath.lab.scenario import builtin_scenarios_dir, load_scenario


def bare(prep: Prepared, log: Path) -> float:
    """Seconds for the same guest run by QEMU alone (no QMP, no parsing)."""
    cmd = list(prep.cmd)
    i = cmd.index("-qmp")
    del cmd[i : i + 2]
    t0 = time.monotonic()
    with log.open("wb") as f:
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                       timeout=300, check=False)
    dt = time.monotonic() - t0
    if b"LABMARK CRASH-KERNEL-DONE" not in log.read_bytes():
        raise SystemExit(f"bare run did not complete, see {log}")
    return dt


def harness(prep: Prepared) -> float:
    t0 = time.monotonic()
    run = asyncio.run(run_prepared_async(prep))
    dt = time.monotonic() - t0
    if not run.result.ok:
        raise SystemExit(run.result.summary())
    return dt


async def _pair(a: Prepared, b: Prepared) -> float:
    t0 = time.monotonic()
    runs = await asyncio.gather(run_prepared_async(a), run_prepared_async(b))
    dt = time.monotonic() - t0
    for r in runs:
        if not r.result.ok:
            raise SystemExit(r.result.summary())
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scenario", type=Path,
                    default=builtin_scenarios_dir() / "kdump_post_notifiers_order.toml")
    ap.add_argument("--out", type=Path, default=Path("/tmp/panicpath-bench-lab"))
    a = ap.parse_args()
    s = load_scenario(a.scenario)
    preps = [prepare(s, a.out / f"g{i}") for i in range(2)]
    h, b, p = [], [], []
    for i in range(a.repeat):  # interleaved so that machine load hits both alike
        h.append(harness(preps[0]))
        b.append(bare(preps[0], a.out / f"bare{i}.log"))
        p.append(asyncio.run(_pair(preps[0], preps[1])))
    hm, bm, pm = (statistics.median(x) for x in (h, b, p))
    print(f"scenario {s.name}, {s.flavour}, {s.cpus} vCPUs, {s.memory_mib} MiB, TCG, "
          f"{a.repeat} repeats (median)")
    print(f"one cycle via harness : {hm:6.2f} s   runs {', '.join(f'{x:.2f}' for x in h)}")
    print(f"one cycle bare QEMU   : {bm:6.2f} s   runs {', '.join(f'{x:.2f}' for x in b)}")
    print(f"harness overhead      : {100 * (hm - bm) / bm:+6.1f} %   (target <= 10 %)")
    print(f"two guests side by side: {pm:6.2f} s  -> throughput {2 * hm / pm:4.2f}x one guest "
          f"(target >= 1.8x)")


if __name__ == "__main__":
    main()
