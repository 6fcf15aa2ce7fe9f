"""The build tools a newer suite's kernel headers carry, made to run on this host.

Building the probe module runs programs shipped with the kernel's headers and its
``linux-kbuild`` package: ``fixdep``, ``modpost``, ``objtool`` (x86 modules are passed
through it: scripts/Makefile.build ``cmd_objtool``, 6.12). Trixie's and sid's copies are
linked against their own glibc (``GLIBC_2.38`` symbols from 6.12's objtool and 7.x's
modpost), so bookworm's loader refuses them. Each such program gets its own runtime: the
packages its ``linux-kbuild`` depends on (libc6, libelf, zlib, ...) from the kernel's suite,
unpacked under the lab cache, and the program's ELF interpreter and ``DT_RPATH`` pointed
there (patchelf). Nothing on the machine changes; the patched copies live in the lab's
unpacked kernel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

from panicpath.lab.archive import HOST_DEB_ARCH, Archive, LabSetupError, parse_depends_field
from panicpath.lab.kernels import KernelFiles, cache_dir

_GLIBC = re.compile(r"^GLIBC_(\d+(?:\.\d+)*)$")


def host_glibc() -> tuple[int, ...]:
    """This host's glibc version (``os.confstr('CS_GNU_LIBC_VERSION')``: ``glibc 2.36``)."""
    text = os.confstr("CS_GNU_LIBC_VERSION") or "glibc 0"
    return tuple(int(x) for x in text.split()[-1].split("."))


def glibc_needed(path: Path) -> tuple[int, ...] | None:
    """The newest ``GLIBC_x.y`` symbol version a dynamically linked program needs
    (its ``.gnu.version_r``), or None for a file that is not such a program."""
    try:
        with path.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                return None
            f.seek(0)
            elf = ELFFile(f)
            if not any(seg["p_type"] == "PT_INTERP" for seg in elf.iter_segments()):
                return None
            best: tuple[int, ...] = ()
            for sec in elf.iter_sections():
                if isinstance(sec, GNUVerNeedSection):
                    for _, auxes in sec.iter_versions():
                        for aux in auxes:
                            m = _GLIBC.match(aux.name)
                            if m:
                                best = max(best, tuple(int(x) for x in m[1].split(".")))
            return best
    except (OSError, ValueError, KeyError) as e:  # a truncated or odd file: not ours to fix
        raise LabSetupError(f"{path}: unreadable ELF ({e}); remove the kernel from the lab "
                            "cache and retry") from None


def tool_dirs(kernel: KernelFiles) -> list[Path]:
    """Where the headers' and kbuild's programs are (``usr/lib/linux-kbuild-*``,
    ``usr/src/linux-headers-*``)."""
    usr = kernel.root / "usr"
    return sorted([*usr.glob("lib/linux-kbuild-*"), *usr.glob("src/linux-headers-*")])


def foreign_programs(kernel: KernelFiles, host: tuple[int, ...] | None = None) -> list[Path]:
    """The programs of the kernel's build tools that need a newer glibc than the host's."""
    limit = host or host_glibc()
    out = []
    for d in tool_dirs(kernel):
        for p in sorted(d.rglob("*")):
            if p.is_file() and not p.is_symlink() and os.access(p, os.X_OK):
                need = glibc_needed(p)
                if need and need > limit:
                    out.append(p)
    return out


def _base_suite(suite: str) -> str:
    """``trixie-security`` and ``trixie-backports`` build against ``trixie``'s libraries."""
    return suite.split("-")[0]


def _runtime_packages(archive: Archive, kbuild_deb: Path, suite: str) -> list[str]:
    """The library packages the kbuild package depends on, and theirs, in `suite`."""
    out = subprocess.run(["dpkg-deb", "-f", str(kbuild_deb), "Depends"], capture_output=True,
                         text=True, check=False).stdout
    queue = [p for p in parse_depends_field(out) if p.startswith(("lib", "zlib"))]
    seen: list[str] = []
    while queue:
        pkg = queue.pop(0)
        if pkg in seen:
            continue
        seen.append(pkg)
        shown = archive.apt_cache("show", f"{pkg}:{HOST_DEB_ARCH}/{suite}")
        stanza = shown.split("\n\n")[0]
        m = re.search(r"(?m)^(?:Pre-)?Depends: (.*)$", stanza)
        if m:
            queue += [d for d in parse_depends_field(m[1]) if d.startswith(("lib", "zlib"))
                      and d not in seen]
    return seen


def ensure_runtime(archive: Archive, packages: list[str], suite: str,
                   cache: Path | None = None) -> Path:
    """The suite's libraries unpacked under ``CACHE/hostlibs/SUITE/root`` (once)."""
    base = (cache or cache_dir()) / "hostlibs" / suite
    root = base / "root"
    stamp = base / ".complete"
    wanted = " ".join(sorted(packages))
    if stamp.exists() and stamp.read_text().strip() == wanted:
        return root
    debs = base / "debs"
    archive.download([f"{p}:{HOST_DEB_ARCH}/{suite}" for p in packages], debs)
    if root.exists():
        shutil.rmtree(root)
    for deb in sorted(debs.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    stamp.write_text(wanted + "\n")
    return root


def ensure_host_tools(kernel: KernelFiles, archive: Archive | None = None,
                      cache: Path | None = None) -> list[Path]:
    """Make the kernel's build programs runnable here; returns the programs patched
    (empty when the host's glibc already runs them all). Done once per kernel."""
    stamp = kernel.root.parent / ".hosttools"
    if stamp.exists():
        return [Path(p) for p in stamp.read_text().split()]
    programs = foreign_programs(kernel)
    if programs:
        if shutil.which("patchelf") is None:
            raise LabSetupError("patchelf not found (the kernel's build tools need a newer "
                                "glibc); run: apt-get install patchelf")
        meta = json.loads((kernel.root.parent / "kernel.json").read_text())
        suite = _base_suite(str(meta["suite"]))
        kbuild = sorted((kernel.root.parent / "debs").glob("linux-kbuild-*.deb"))
        if not kbuild:
            raise LabSetupError(f"no linux-kbuild package under {kernel.root.parent}/debs; "
                                "remove the kernel from the lab cache and retry")
        archive = archive or Archive((cache or cache_dir()) / "apt")
        runtime = ensure_runtime(archive, _runtime_packages(archive, kbuild[0], suite), suite,
                                 cache)
        interp = next(iter(sorted(runtime.glob("usr/lib/x86_64-linux-gnu/ld-linux-*.so.*"))),
                      None)
        if interp is None:
            raise LabSetupError(f"{runtime}: no dynamic loader in the {suite} libc6")
        rpath = ":".join(str(runtime / d) for d in ("usr/lib/x86_64-linux-gnu",
                                                     "lib/x86_64-linux-gnu"))
        for prog in programs:
            subprocess.run(["patchelf", "--set-interpreter", str(interp), "--force-rpath",
                            "--set-rpath", rpath, str(prog)], check=True,
                           capture_output=True)
    stamp.write_text("\n".join(str(p) for p in programs) + "\n")
    return programs
