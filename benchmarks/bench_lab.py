"""Lab speed: one full panic -> kdump cycle through the harness vs a bare QEMU
command line doing the same, in the same run, two guests side by side, and the
same with guests restored from a snapshot.

    python benchmarks/bench_lab.py [--repeat 3] [--scenario FILE] [--no-snapshot]
    python benchmarks/bench_lab.py --kernels [--repeat 3] [--matrix]

``--kernels``: per kernel (every x86_64 release the archive carries, arm64 6.1 and its
newest, ppc64el 6.1), one booted cycle and one restored cycle of the same portable scenario
(no pvpanic; ppc64el runs its no-crash-kernel variant: docs/lab.md), medians of
``--repeat``, and the restored arm64 / x86_64 ratio of 6.1 (issue 15's target: <= 1.5x).
``--matrix`` then times ``lab matrix`` of every shipped scenario on those kernels with
``--jobs 2`` (target: the >= 40-cell matrix in <= 15 minutes on two cores).

Setup (kernel download, initrd, probe build) is done once before timing. The
bare run is the same QEMU argv without QMP, console to a file, until QEMU exits
(the crash kernel powers the VM off); the harness run ends at the same point.
Both boot the guest (``prepare(..., snapshot=False)``). Two guests side by side
are prepared with ``guests=2``, as ``lab campaign --jobs 2`` prepares them: on a
host with fewer cores than their vCPUs together they run single-threaded TCG
(qemu.tcg_thread_mode), one guest alone multi-threaded.

Snapshot section (skipped with ``--no-snapshot``): a snapshot cache of its own
under ``--out`` is emptied, one untimed run boots with ``lab.wait=1`` and saves
the snapshot at ``LABMARK WAITING`` (crash kernel loaded), one untimed pair makes
the second slot's image; then each repeat times one restored run and two restored
runs side by side. Restored and booted runs do the same scenario (same probe,
same settings, same cycle to ``LABMARK CRASH-KERNEL-DONE``).

Campaign-style throughput (``--queue K``, default 2): the two slots of a pair
each run K cycles back to back, as ``lab campaign --jobs 2`` keeps two guests
busy, so a slot whose guest ends first starts the next cycle instead of waiting
for the other guest (the gap is printed: the two guests' cycle times in a pair).

The host is shared: before each timed pair the script samples /proc/stat for
one second while none of its guests runs and prints how many cores other work
kept busy, and it prints the CPU seconds a cycle costs (QEMU, and the harness's
own process), which bound what two guests can gain on two cores. Each repeat
also times the host's own ceiling, the peer every pair ratio is bounded by: a
CPU-bound loop that shares nothing, once alone and twice side by side (two
processes), so the ratio two such processes reach is what two cores give here.
Pair ratios are also printed per repeat (each pair against the one-guest run of
the same repeat), which cancels the drift of a shared host between repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from panicpath.lab.runner import LabRun, Prepared, prepare, run_prepared_async
from panicpath.lab.scenario import builtin_scenarios_dir, load_scenario


def busy_cores(seconds: float = 1.0) -> float:
    """Cores kept busy by everything on the host over ``seconds`` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        return sum(fields), fields[3] + fields[4]  # total, idle + iowait

    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(1, t1 - t0))


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


@dataclass
class Series:
    """Timings of one kind of run: wall seconds, QEMU and harness CPU seconds."""

    wall: list[float] = field(default_factory=list)
    qemu_cpu: list[float] = field(default_factory=list)
    self_cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    def runs(self) -> str:
        return ", ".join(f"{x:.2f}" for x in self.wall)


def _spin(n: int) -> None:
    x = 0
    for i in range(n):
        x += i * i


def host_ceiling(loops: int = 40_000_000) -> float:
    """Throughput of two CPU-bound processes side by side over one alone (<= 2.0)."""
    def run(k: int) -> float:
        t0 = time.monotonic()
        pids = []
        for _ in range(k):
            pid = os.fork()
            if pid == 0:
                _spin(loops)
                os._exit(0)
            pids.append(pid)
        for pid in pids:
            os.waitpid(pid, 0)
        return time.monotonic() - t0
    one = run(1)
    return 2 * one / run(2)


def bare(prep: Prepared, log: Path, into: Series) -> None:
    """The same guest run by QEMU alone (no QMP, no parsing)."""
    cmd = list(prep.cmd)
    i = cmd.index("-qmp")
    del cmd[i : i + 2]
    c0, t0 = cpu_children(), time.monotonic()
    with log.open("wb") as f:
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT,
                       timeout=300, check=False)
    into.wall.append(time.monotonic() - t0)
    into.qemu_cpu.append(cpu_children() - c0)
    if b"LABMARK CRASH-KERNEL-DONE" not in log.read_bytes():
        raise SystemExit(f"bare run did not complete, see {log}")


def _check(runs: list[LabRun], snapshot: str) -> None:
    for r in runs:
        if not r.result.ok:
            raise SystemExit(r.result.summary())
        if r.result.snapshot != snapshot:
            raise SystemExit(f"expected snapshot={snapshot}, got {r.result.snapshot}: "
                             f"{r.result.summary()}")


async def _gather(preps: list[Prepared]) -> list[LabRun]:
    return list(await asyncio.gather(*(run_prepared_async(p) for p in preps)))


def timed(preps: list[Prepared], snapshot: str, into: Series, k: int = 1) -> list[LabRun]:
    """Run ``preps`` side by side through the harness, each ``k`` cycles back to back
    (a slot whose guest ends first starts its next cycle); record wall and CPU time.
    Runs are returned slot by slot."""
    async def slot(p: Prepared) -> list[LabRun]:
        return [await run_prepared_async(p) for _ in range(k)]

    async def every() -> list[LabRun]:
        return [r for rs in await asyncio.gather(*(slot(p) for p in preps)) for r in rs]

    c0, s0, t0 = cpu_children(), cpu_self(), time.monotonic()
    runs = asyncio.run(every())
    into.wall.append(time.monotonic() - t0)
    into.qemu_cpu.append(cpu_children() - c0)
    into.self_cpu.append(cpu_self() - s0)
    _check(runs, snapshot)
    return runs


def cpu_line(label: str, s: Series, guests: int = 1) -> str:
    q = statistics.median(s.qemu_cpu) / guests
    h = f", harness {statistics.median(s.self_cpu) / guests:.2f}" if s.self_cpu else ""
    return f"  CPU s per cycle, {label}: QEMU {q:.2f}{h}"


def _series(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in release.split("."))


def kernels_main(repeat: int, out: Path, matrix: bool) -> None:
    """Booted and restored cycles per kernel, then (``matrix``) the whole matrix's wall."""
    from panicpath.lab.conformance import find_predictor
    from panicpath.lab.kernels import carried_kernels
    from panicpath.lab.matrix import plan, run_matrix
    from panicpath.lab.scenario import with_kernel

    carried = frozenset((k.release, k.arch) for k in carried_kernels())
    x86 = sorted({r for r, a in carried if a == "x86_64"}, key=_series)
    arm = max((r for r, a in carried if a == "arm64"), key=_series)
    kernels = [*((r, "x86_64") for r in x86), ("6.1", "arm64"), (arm, "arm64"),
               ("6.1", "ppc64el")]
    scenarios = builtin_scenarios_dir()
    portable = load_scenario(scenarios / "portable_post_notifiers_order.toml")
    runs_on = load_scenario(scenarios / "portable_no_kdump_host_runs_on.toml")
    cache = out / "cache"
    shutil.rmtree(cache / "snapshots", ignore_errors=True)
    restored: dict[tuple[str, str], float] = {}
    print(f"{'release':8} {'arch':8} {'scenario':32} {'booted s':>9} {'restored s':>10}")
    for release, arch in kernels:
        sc = with_kernel(runs_on if arch == "ppc64el" else portable, release, arch)
        booted = prepare(sc, out / f"b-{release}-{arch}", snapshot=False)
        snap = prepare(sc, out / f"s-{release}-{arch}", snapshot=True, cache=cache)
        _check([asyncio.run(run_prepared_async(snap))], "saved")
        b, r = Series(), Series()
        for _ in range(repeat):
            timed([booted], "none", b)
            timed([snap], "restored", r)
        restored[(release, arch)] = r.median
        print(f"{release:8} {arch:8} {sc.name:32} {b.median:9.2f} {r.median:10.2f}   "
              f"runs {b.runs()} / {r.runs()}")
    ratio = restored[("6.1", "arm64")] / restored[("6.1", "x86_64")]
    print(f"restored arm64 6.1 / x86_64 6.1: {ratio:.2f}x (target <= 1.5x)")
    if not matrix:
        return
    dirs = [load_scenario(p) for p in sorted(scenarios.glob("*.toml"))]
    cells = [c for sc in dirs for r, a in kernels for c in plan([sc], [r], [a], carried)]
    t0 = time.monotonic()
    done = run_matrix(cells, 2, out / "matrix", find_predictor())
    wall = time.monotonic() - t0
    from panicpath.lab.matrix import write_report

    js, _ = write_report(done, out / "matrix")
    counts = {k: sum(1 for c in done if c.status == k) for k in ("agree", "differ", "n/a")}
    for c in done:
        if c.status not in ("agree", "n/a"):
            print(f"  {c.status:14} {c.scenario} {c.release} {c.arch}")
    print(f"matrix: {len(done)} cells ({len(dirs)} scenarios x {len(kernels)} kernels), "
          f"{counts['agree']} agree, {counts['differ']} differ, {counts['n/a']} n/a, "
          f"{len(done) - sum(counts.values())} other; wall {wall / 60:.1f} min with --jobs 2 "
          f"(target: >= 40 cells in <= 15 min); cells in {js}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernels", action="store_true",
                    help="booted/restored cycles per release and arch (see the docstring)")
    ap.add_argument("--matrix", action="store_true",
                    help="with --kernels: also the wall time of the whole lab matrix")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scenario", type=Path,
                    default=builtin_scenarios_dir() / "kdump_post_notifiers_order.toml")
    ap.add_argument("--out", type=Path, default=Path("/tmp/panicpath-bench-lab"))
    ap.add_argument("--queue", type=int, default=2,
                    help="cycles per slot in the campaign-style pair run (0: skip)")
    ap.add_argument("--no-snapshot", dest="snapshot", action="store_false",
                    help="skip the snapshot section")
    a = ap.parse_args()
    if a.kernels:
        kernels_main(a.repeat, a.out, a.matrix)
        return
    s = load_scenario(a.scenario)
    # One guest and two side by side are each prepared as the lab runs them: the
    # TCG thread mode follows how many guests share the host (qemu.tcg_thread_mode).
    one = prepare(s, a.out / "g0", snapshot=False)
    boot = [prepare(s, a.out / f"p{i}", snapshot=False, guests=2) for i in range(2)]
    cache = a.out / "cache"
    snap_one: Prepared | None = None
    snap: list[Prepared] = []
    first = 0.0
    if a.snapshot:
        shutil.rmtree(cache / "snapshots", ignore_errors=True)
        snap_one = prepare(s, a.out / "s0", snapshot=True, cache=cache)
        snap = [prepare(s, a.out / f"sp{i}", snapshot=True, cache=cache, guests=2)
                for i in range(2)]
        if snap_one.snapshot is None:
            raise SystemExit("snapshots are not usable here (qemu-img missing)")
        t0 = time.monotonic()
        _check([asyncio.run(run_prepared_async(snap_one))], "saved")
        first = time.monotonic() - t0
        _check([asyncio.run(run_prepared_async(snap[0]))], "saved")  # the pair's mode
        _check(asyncio.run(_gather(snap)), "restored")  # makes slot 1's image
    h, b, p, r, rp, q = Series(), Series(), Series(), Series(), Series(), Series()
    ceiling: list[float] = []
    gaps: list[float] = []
    bg_boot: list[float] = []
    bg_snap: list[float] = []
    load0 = os.getloadavg()
    for i in range(a.repeat):  # interleaved so that machine load hits all alike
        timed([one], "none", h)
        bare(one, a.out / f"bare{i}.log", b)
        bg_boot.append(busy_cores())
        pair = timed(boot, "none", p)
        gaps.append(abs(pair[0].result.duration - pair[1].result.duration))
        if a.queue > 0:
            timed(boot, "none", q, a.queue)
        ceiling.append(host_ceiling())
        if snap_one is not None:
            timed([snap_one], "restored", r)
            bg_snap.append(busy_cores())
            timed(snap, "restored", rp)
    load1 = os.getloadavg()
    hm, bm, pm = h.median, b.median, p.median
    mode = {prep.cmd[prep.cmd.index("-accel") + 1] for prep in (one, *boot)}
    print(f"scenario {s.name}, {s.flavour}, {s.cpus} vCPUs, {s.memory_mib} MiB, TCG, "
          f"{os.cpu_count()} host cores, {a.repeat} repeats (median); "
          f"one guest: -accel {one.cmd[one.cmd.index('-accel') + 1]}, two side by side: "
          f"-accel {boot[0].cmd[boot[0].cmd.index('-accel') + 1]}"
          + ("" if len(mode) > 1 else " (same mode)"))
    print(f"load average before/after: {load0[0]:.2f} / {load1[0]:.2f}; cores busy with "
          f"other work just before each pair: {', '.join(f'{x:.2f}' for x in bg_boot + bg_snap)}")
    print(f"one cycle via harness : {hm:6.2f} s   runs {h.runs()}")
    print(f"one cycle bare QEMU   : {bm:6.2f} s   runs {b.runs()}")
    print(f"harness overhead      : {100 * (hm - bm) / bm:+6.1f} %   (target <= 10 %)")
    print(f"two guests side by side: {pm:6.2f} s  -> throughput {2 * hm / pm:4.2f}x one guest "
          f"(target >= 1.8x)   runs {p.runs()}")
    per = [2 * x / y for x, y in zip(h.wall, p.wall, strict=True)]
    print(f"  per repeat (pair vs that repeat's one guest): {', '.join(f'{x:.2f}' for x in per)}x, "
          f"median {statistics.median(per):.2f}x; "
          f"gap between the pair's two cycles: {', '.join(f'{g:.2f}' for g in gaps)} s")
    if q.wall:
        qm = q.median / a.queue
        print(f"campaign-style, {a.queue} cycles per slot, two slots: {qm:6.2f} s per slot-cycle "
              f"-> throughput {2 * hm / qm:4.2f}x one guest   runs "
              f"{', '.join(f'{x:.2f}' for x in q.wall)} s for {2 * a.queue} cycles")
    print(f"host ceiling: two CPU-bound processes side by side {statistics.median(ceiling):4.2f}x "
          f"one alone   runs {', '.join(f'{x:.2f}' for x in ceiling)}")
    print(cpu_line("booted", h))
    print(cpu_line("booted, bare", b))
    print(cpu_line("booted, two side by side", p, 2))
    if q.wall:
        print(cpu_line("booted, campaign-style", q, 2 * a.queue))
    if a.snapshot:
        rm, rpm = r.median, rp.median
        size = sum(f.stat().st_size for f in snap_one.snapshot.store.root.glob("*.qcow2")
                   ) if snap_one is not None and snap_one.snapshot else 0
        print(f"snapshot taken in the first run (boot, savevm, cycle): {first:.2f} s; "
              f"store {size / 2**20:.0f} MiB (master + slot copy)")
        print(f"one cycle restored    : {rm:6.2f} s   runs {r.runs()}   "
              f"-> {hm / rm:4.2f}x faster than booted")
        print(f"two restored side by side: {rpm:6.2f} s  -> throughput {2 * rm / rpm:4.2f}x one "
              f"restored guest, {2 * hm / rpm:4.2f}x one booted guest   runs {rp.runs()}")
        print(cpu_line("restored", r))
        print(cpu_line("restored, two side by side", rp, 2))


if __name__ == "__main__":
    main()
