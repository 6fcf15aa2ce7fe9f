"""Debian's kernel sources, fetched through the lab's private apt state, cut to the panic path.

``ensure_source("6.12")`` gives a directory holding the files of Debian's
``linux-source-6.12`` that the panic-path derivation (scan/panic_policy.py) reads: the
top ``Makefile``, ``kernel/panic.c`` and the kexec/crash core, ``kernel/printk/``,
``lib/sys_info.c`` (7.x's ``sys_info(panic_print)``), each architecture's stop and
crash-shutdown files, ``include/linux/`` and the 8250 console driver. It is the archive's
newest upload of that series in any suite the private state lists (bullseye … sid and
their security suites; :mod:`panicpath.lab.archive`): ``apt-get download`` through
:class:`~panicpath.lab.archive.Archive` (its own sources, lists and cache, the archive's
URI read from the machine's apt sources at run time; the machine's apt set-up is never
changed), ``dpkg-deb -x``, then ``tar`` extracts only :data:`MEMBERS` from the
``.tar.xz`` inside (decompressing it is most of the ~20 s a first fetch takes).

Cache: ``CACHE/sources/linux-source-SERIES_VERSION/`` (``CACHE`` is
:func:`panicpath.lab.archive.cache_dir`, ``$PANICPATH_CACHE``), completed by a stamp,
built under a lock in a temporary directory so an interrupted fetch leaves nothing half
made. The ``.deb`` is deleted once extracted.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import tempfile
from functools import cmp_to_key
from pathlib import Path
from typing import IO

from panicpath.lab.archive import (
    HOST_DEB_ARCH,
    SUITES,
    Archive,
    LabSetupError,
    _flock,
    cache_dir,
    compare_versions,
    run_tool,
)

SERIES = ("5.10", "6.1", "6.12", "7.2", "7.3")
"""The series the tests derive (Debian's bullseye, bookworm, trixie, trixie-backports and
sid carry them); any series the archive carries can be fetched."""

MEMBERS = (
    "Makefile",
    "kernel/panic.c", "kernel/kexec_core.c", "kernel/crash_core.c", "kernel/kexec.c",
    "kernel/reboot.c", "kernel/printk/*",
    "lib/sys_info.c",
    "arch/*/kernel/crash.c", "arch/*/kernel/smp.c", "arch/*/kernel/machine_kexec*.c",
    "arch/*/kernel/reboot.c", "arch/powerpc/kexec/*", "arch/mips/cavium-octeon/setup.c",
    "include/linux/*",
    "drivers/tty/serial/8250/8250_core.c", "drivers/tty/serial/8250/8250_port.c",
)
"""What the derivation reads, relative to the tree's top (tar wildcards; a pattern no
release has, such as ``lib/sys_info.c`` before 7.x, is simply absent)."""

STAMP = ".panicpath-source"
_SERIES = re.compile(r"[1-9][0-9]?\.(0|[1-9][0-9]{0,2})")


class SourceError(LabSetupError):
    """A kernel source that cannot be had; ``str()`` is one line with the fix."""


def sources_dir() -> Path:
    """``CACHE/sources``: one directory per fetched package version."""
    return cache_dir() / "sources"


def newest_version(archive: Archive, series: str) -> str:
    """The highest version of ``linux-source-SERIES`` among the suites the private state
    lists (a ``-security`` upload counts as its suite)."""
    rows = [r for r in archive.madison(f"linux-source-{series}", HOST_DEB_ARCH)
            if r.family in SUITES]
    if not rows:
        raise SourceError(f"linux-source-{series} is not in the archive (suites "
                          f"{', '.join(SUITES)}); run with a series it carries, e.g. "
                          f"{', '.join(SERIES)}")
    best = rows[0].version
    for r in rows[1:]:
        if compare_versions(r.version, best) > 0:
            best = r.version
    return best


def _cached(series: str) -> list[Path]:
    """Complete cached extractions of ``series``, newest version first."""
    root = sources_dir()
    if not root.is_dir():
        return []
    found = [d for d in root.glob(f"linux-source-{series}_*") if (d / STAMP).is_file()]

    def newer_first(a: Path, b: Path) -> int:
        return compare_versions(b.name.partition("_")[2], a.name.partition("_")[2])

    return sorted(found, key=cmp_to_key(newer_first))


def ensure_source(series: str, archive: Archive | None = None) -> Path:
    """The cut tree of Debian's ``linux-source-SERIES`` (newest upload), fetched and
    extracted on first use. Without the archive (offline, no apt), the newest cached
    extraction of that series is used; without one either, :class:`SourceError`."""
    if not _SERIES.fullmatch(series):
        raise SourceError(f"{series!r} is not a kernel series; valid: MAJOR.MINOR, e.g. "
                          f"{', '.join(SERIES)}")
    archive = archive or Archive()
    try:
        version = newest_version(archive, series)
    except SourceError:
        raise
    except LabSetupError as e:  # no apt, no network: a cached extraction will do
        cached = _cached(series)
        if cached:
            return cached[0]
        raise SourceError(f"linux-source-{series}: {e}") from None
    dest = sources_dir() / f"linux-source-{series}_{version}"
    if (dest / STAMP).is_file():
        return dest
    with _flock(sources_dir() / f"linux-source-{series}.lock", fcntl.LOCK_EX):
        if (dest / STAMP).is_file():
            return dest
        _fetch(archive, series, version, dest)
    return dest


def _fetch(archive: Archive, series: str, version: str, dest: Path) -> None:
    """Download, unpack the .deb, extract :data:`MEMBERS` from its tarball into ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
        work = Path(tmp)
        archive.download([f"linux-source-{series}={version}"], work / "deb")
        debs = sorted((work / "deb").glob("*.deb"))
        if not debs:
            raise SourceError(f"apt-get download linux-source-{series}={version} wrote no "
                              ".deb; run: retry later")
        run_tool(["dpkg-deb", "-x", str(debs[0]), str(work / "pkg")], "apt-get install dpkg",
                 error=SourceError)
        debs[0].unlink()
        tarballs = sorted((work / "pkg" / "usr" / "src").glob("linux-source-*.tar.*"))
        if not tarballs:
            raise SourceError(f"linux-source-{series} {version} holds no usr/src/"
                              "linux-source-*.tar.*; run: report it")
        out = work / "tree"
        extract_members(tarballs[0], out)
        (out / STAMP).write_text(f"linux-source-{series} {version}\n")
        if dest.exists():
            shutil.rmtree(dest)
        out.rename(dest)


def extract_members(tarball: Path, out: Path) -> None:
    """Extract :data:`MEMBERS` of a kernel tarball (one top directory, as kernel.org's and
    Debian's ``linux-source-*.tar.xz``) into ``out``, without the top directory.
    :class:`SourceError` when it holds no ``Makefile`` and ``kernel/panic.c``."""
    finish_extract(tarball, out, start_extract(tarball, out))


Extraction = tuple["subprocess.Popen[bytes]", IO[bytes]]
"""A running ``tar`` and the file its stderr goes to."""


def start_extract(tarball: Path, out: Path) -> Extraction:
    """Start extracting :data:`MEMBERS` into ``out`` (a ``tar`` process, stderr to a
    temporary file); :func:`finish_extract` waits for it. Decompressing the tarball is
    most of the time, so a caller can scan the same tarball meanwhile (scan/tree_model.py)."""
    if shutil.which("tar") is None:
        raise SourceError("tar not found; run: apt-get install tar xz-utils")
    out.mkdir(parents=True, exist_ok=True)
    # `*/` matches the top directory whatever its name; GNU tar fails on a pattern no
    # member matches but extracts the others, so the result is checked instead.
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by finish_extract
    proc = subprocess.Popen(["tar", "-x", "-f", str(tarball), "-C", str(out), "--wildcards",
                             "--no-wildcards-match-slash", "--strip-components=1",
                             *(f"*/{m}" for m in MEMBERS)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors)
    return proc, errors


def finish_extract(tarball: Path, out: Path, running: Extraction) -> None:
    """Wait for :func:`start_extract`'s ``tar``; :class:`SourceError` when the tarball held
    no ``Makefile`` and ``kernel/panic.c``."""
    proc, errors = running
    proc.wait()
    errors.seek(0)
    err = errors.read()
    errors.close()
    if not (out / "Makefile").is_file() or not (out / "kernel" / "panic.c").is_file():
        last = (err.decode("utf-8", "replace").strip().splitlines() or ["(no message)"])[-1]
        raise SourceError(f"{tarball}: no <top>/Makefile and <top>/kernel/panic.c in it "
                          f"({last}): not a kernel source tarball")
