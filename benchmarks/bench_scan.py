#!/usr/bin/env python3
"""Benchmark `panicpath scan` against Coccinelle and grep on Debian's 6.1 tree.

Prints, in one run: the scanner's wall time on the tarball (streamed, no
extraction) and on the extracted tree with --jobs N; spatch's and grep's wall
time on the extracted tree for the same query (benchmarks/cocci/panic_path.cocci);
what each tool finds; what the scanner misses relative to spatch (should be
none) and what it finds in addition, with the reason; and the time ratio.

Usage:
    python3 benchmarks/bench_scan.py [--tarball PATH] [--tree DIR] [--jobs 2]
                                     [--spatch-timeout 1800] [--subset] [--repeat 3]

The machine's speed drifts between minutes, so the scanner (in process, and as
the ``panicpath scan --json`` command a user runs) and spatch are timed in
alternation for --repeat rounds and compared by their medians.

The extracted tree (needed by spatch and grep) defaults to
~/.cache/panicpath/linux-source-6.1 and is extracted once. spatch comes from
Debian's `coccinelle` package; if it is missing the script installs it when run
as root, otherwise it asks for it and skips that comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from pathlib import Path

from panicpath.scan import ScanResult, scan_tree

HERE = Path(__file__).resolve().parent
COCCI = HERE / "cocci" / "panic_path.cocci"
Key = tuple[str, str, int]

GREP_PATTERNS = {
    "panic_notifier_list": r"notifier_chain_register\(\s*&panic_notifier_list",
    "unregister": r"notifier_chain_unregister\(\s*&panic_notifier_list",
    "kmsg_dumper": r"\bkmsg_dump_register\(",
    "crash_shutdown": r"\bcrash_shutdown_register\(|machine_ops\.crash_shutdown\s*=[^=]",
    "writer": r"\bcrash_kexec_post_notifiers\s*=[^=]",
}


def scanner_keys(result: ScanResult) -> dict[Key, str]:
    """(kind, file, line) -> how the scanner found it."""
    keys: dict[Key, str] = {}
    for cb in result.callbacks:
        keys[(cb.list, cb.file, cb.line)] = cb.via
    for w in result.post_notifiers_writers:
        keys[("writer", w.file, w.line)] = w.condition
    for u in result.unregistrations:
        if u.list == "panic_notifier_list":
            keys[("unregister", u.file, u.line)] = u.via
    return keys


def extra_reason(key: Key, via: str) -> str:
    """Why the scanner reports something the semantic patch does not."""
    kind, file, _ = key
    if file.endswith(".h"):
        return "registration inside a header (kernel/rcu/tree_stall.h is #included by tree.c)"
    if kind == "crash_shutdown":
        if via.startswith("definition"):
            return "arch machine_crash_shutdown() definition (hook run by __crash_kexec)"
        if via.startswith("struct machine_ops") or "machine_ops =" in via:
            return "struct machine_ops initialiser (.crash_shutdown = ...)"
        if "_machine_crash_shutdown" in via:
            return "MIPS _machine_crash_shutdown hook"
        if "hv_setup_crash_handler" in via:
            return "Hyper-V crash handler run from hv_machine_crash_shutdown"
    if kind == "writer" and "core_param" in via:
        return "core_param: writable from the command line and sysfs"
    if " -> " in via:
        return "registration through a wrapper"
    if kind in ("panic_notifier_list", "unregister") and "&panic_notifier_list" not in via:
        return "list head reached through a macro alias or a local variable"
    return "not matched by the semantic patch's exact pattern: " + via[:80]


def ensure_tree(tarball: Path, tree: Path | None) -> Path:
    if tree is not None:
        return tree
    dest = Path.home() / ".cache" / "panicpath" / tarball.name.split(".tar")[0]
    if not (dest / "Makefile").exists():
        print(f"extracting {tarball} into {dest} (once, not timed) ...", flush=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=dest.parent))
        with tarfile.open(tarball) as tar:
            tar.extractall(tmp, filter="data")
        (top,) = list(tmp.iterdir())
        if dest.exists():
            shutil.rmtree(dest)
        top.rename(dest)
        shutil.rmtree(tmp)
    return dest


def ensure_spatch() -> str | None:
    found = shutil.which("spatch")
    if found:
        return found
    if os.geteuid() == 0:
        print("spatch not found: apt-get install coccinelle ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends",
                        "coccinelle"], check=False, env={**os.environ,
                                                         "DEBIAN_FRONTEND": "noninteractive"})
        return shutil.which("spatch")
    print("spatch not found: please `sudo apt-get install coccinelle`; skipping Coccinelle")
    return None


def run_spatch(spatch: str, tree: Path, files: list[str] | None, jobs: int,
               timeout: float) -> tuple[dict[Key, str], float] | None:
    cmd = [spatch, "--sp-file", str(COCCI), "--very-quiet", "--include-headers", "-j",
           str(jobs)]
    cmd += [str(tree / f) for f in files] if files is not None else ["--dir", str(tree)]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        return None
    seconds = time.perf_counter() - start
    found: dict[Key, str] = {}
    for line in proc.stdout.splitlines():
        parts = line.split("|", 3)
        if len(parts) == 4 and parts[2].isdigit():
            rel = os.path.relpath(parts[1], tree).replace(os.sep, "/")
            found[(parts[0], rel, int(parts[2]))] = parts[3]
    return found, seconds


def run_grep(tree: Path, files: list[str] | None) -> tuple[dict[Key, str], float]:
    found: dict[Key, str] = {}
    start = time.perf_counter()
    for kind, pattern in GREP_PATTERNS.items():
        cmd = ["grep", "-nE", pattern]
        if files is None:
            cmd[1:1] = ["-r", "--include=*.c", "--include=*.h"]
            cmd.append(".")
        else:
            cmd[1:1] = ["-H"]
            cmd += files
        out = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, errors="replace",
                             check=False).stdout
        for line in out.splitlines():
            path, lineno, text = line.split(":", 2)
            found[(kind, path.removeprefix("./"), int(lineno))] = text.strip()
    return found, time.perf_counter() - start


def subset_tree(tree: Path, files: list[str]) -> Path:
    root = Path(tempfile.mkdtemp(prefix="panicpath-subset-"))
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(tree / rel, root / rel)
    return root


def run_cli(tree: Path, jobs: int) -> float:
    """Wall time of ``panicpath scan TREE --jobs N --json`` as a user runs it."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "panicpath", "scan", str(tree), "--jobs", str(jobs),
                    "--json"], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def show(title: str, keys: dict[Key, str]) -> None:
    counts = Counter(k[0] for k in keys)
    print(f"  {title:<10} {len(keys):4d} total  " +
          "  ".join(f"{kind}={n}" for kind, n in sorted(counts.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tarball", type=Path, default=Path("/usr/src/linux-source-6.1.tar.xz"))
    parser.add_argument("--tree", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--spatch-timeout", type=float, default=1800.0)
    parser.add_argument("--subset", action="store_true",
                        help="run spatch and the scanner on the same subset (files grep matches)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="timed rounds; each round runs the scanner (in process and as the "
                             "`panicpath scan` command) and spatch back to back (default 3)")
    args = parser.parse_args()
    if not args.tarball.exists():
        print(f"{args.tarball}: missing; apt-get install linux-source-6.1")
        return 1
    tree = ensure_tree(args.tarball, args.tree)
    print(f"machine: {os.cpu_count()} CPUs; jobs={args.jobs}")

    # Both tools read the same 1.2 GB tree; read it once untimed so that neither pays for a
    # cold page cache (spatch, timed last, would otherwise get the cache the scanner warmed).
    warm = subprocess.run(["grep", "-rlF", "panic_notifier_list", str(tree)],
                          capture_output=True, check=False)
    print(f"page cache warmed (grep -r over the tree, exit {warm.returncode})")
    start = time.perf_counter()
    from_tar = scan_tree(args.tarball, jobs=args.jobs, use_cache=False)
    t_tar = time.perf_counter() - start
    start = time.perf_counter()
    from_dir = scan_tree(tree, jobs=args.jobs)
    t_dir = time.perf_counter() - start
    print(f"panicpath scan {args.tarball} --jobs {args.jobs}: {t_tar:.1f} s "
          f"({from_tar.stats.files_parsed} of {from_tar.stats.files_seen} files parsed)")
    print(f"panicpath scan {tree} --jobs {args.jobs}: {t_dir:.1f} s")
    scanner = scanner_keys(from_dir)
    grep, t_grep = run_grep(tree, None)
    print(f"grep -rE (5 patterns) over the tree: {t_grep:.1f} s")

    files: list[str] | None = None
    target = tree
    scope = "whole tree"
    t_scan_same = t_dir
    if args.subset:
        files = sorted({k[1] for k in grep} | {k[1] for k in scanner})
        scope = f"subset of {len(files)} files (those grep or the scanner report)"
        target = subset_tree(tree, files)  # removed after the timed rounds
        scanner = scanner_keys(scan_tree(target, jobs=args.jobs))
    spatch = ensure_spatch()
    cocci: dict[Key, str] | None = None
    t_cocci = 0.0
    t_cli = 0.0
    if spatch:
        # The machine's speed drifts by tens of percent between minutes, so the tools are
        # timed in alternation, round after round, and compared by their medians.
        print(f"spatch --include-headers -j {args.jobs} on the {scope} "
              f"(timeout {args.spatch_timeout:.0f} s), {args.repeat} rounds of "
              "scanner / panicpath scan / spatch ...", flush=True)
        scans: list[float] = []
        clis: list[float] = []
        spatches: list[float] = []
        for rnd in range(max(1, args.repeat)):
            start = time.perf_counter()
            scan_tree(target, jobs=args.jobs)
            scans.append(time.perf_counter() - start)
            clis.append(run_cli(target, args.jobs))
            ran = run_spatch(spatch, tree, files, args.jobs, args.spatch_timeout)
            if ran is None:
                print(f"spatch did not finish within {args.spatch_timeout:.0f} s on the {scope}; "
                      "rerun with --subset to compare on the same subset of files")
                break
            cocci, seconds = ran
            spatches.append(seconds)
            print(f"  round {rnd + 1}: scanner {scans[-1]:.2f} s, panicpath scan "
                  f"{clis[-1]:.2f} s, spatch {seconds:.2f} s", flush=True)
        if spatches:
            t_scan_same = statistics.median(scans)
            t_cli = statistics.median(clis)
            t_cocci = statistics.median(spatches)
            print(f"spatch: median {t_cocci:.2f} s over {len(spatches)} rounds")

    if target != tree:
        shutil.rmtree(target)

    print("\nfound (kind counts):")
    show("scanner", scanner)
    show("grep", grep)
    if cocci is not None:
        show("spatch", cocci)
        missed = sorted(set(cocci) - set(scanner))
        print(f"\nscanner misses vs spatch: {len(missed)}")
        for key in missed:
            print(f"  MISSED {key[0]} {key[1]}:{key[2]}  {cocci[key]}")
        extra = sorted(set(scanner) - set(cocci))
        print(f"scanner extra vs spatch: {len(extra)}")
        for key in extra:
            print(f"  + {key[0]} {key[1]}:{key[2]}  ({extra_reason(key, scanner[key])})")
    g_missed = sorted(set(grep) - set(scanner))
    print(f"\ngrep hits the scanner does not report: {len(g_missed)} "
          "(definitions, declarations, strings and comments grep cannot tell apart)")
    for key in g_missed:
        print(f"  grep-only {key[0]} {key[1]}:{key[2]}  {grep[key][:90]}")
    g_extra = sorted(set(scanner) - set(grep))
    print(f"scanner finds that grep's patterns miss: {len(g_extra)}")
    for key in g_extra:
        print(f"  + {key[0]} {key[1]}:{key[2]}  ({extra_reason(key, scanner[key])})")

    print("\nsummary:")
    print(f"  scanner, tarball, --jobs {args.jobs}: {t_tar:.1f} s (target <= 60 s)")
    print(f"  scanner, extracted tree, --jobs {args.jobs}: {t_dir:.1f} s")
    if cocci is not None:
        print(f"  spatch on the {scope}: median {t_cocci:.2f} s; scanner on the same: median "
              f"{t_scan_same:.2f} s; ratio spatch/scanner = {t_cocci / t_scan_same:.1f}x "
              "(target >= 10x)")
        print(f"  the `panicpath scan --json` command end to end (Python start-up, imports, "
              f"JSON out): median {t_cli:.2f} s; ratio spatch/command = "
              f"{t_cocci / t_cli:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
