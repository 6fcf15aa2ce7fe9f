"""The lab's initramfs: busybox, kexec, a few modules and one ``/init`` for both kernels.

Three cpio archives are concatenated (the kernel unpacks concatenated archives,
init/initramfs.c unpack_to_rootfs(), 6.1; see ``aligned``):

1. ``base.cpio.gz`` (per kernel release): ``/init``, static busybox with its
   applet links, ``kexec`` with the shared libraries it links, the pvpanic,
   pvpanic-mmio, ramoops and reed_solomon modules (those the kernel builds as
   modules: arm64 and ppc64el have no pvpanic). It is also the crash kernel's
   initrd.
2. ``payload.cpio`` (per kernel release, uncompressed since its contents
   already are): ``/boot/vmlinuz`` and ``/boot/crash-initrd.gz`` for ``kexec -p``.
3. ``probe.cpio`` (per scenario, optional): ``/lab/panicpath_probe.ko``.

The cpio "newc" format is written here directly (a few lines, deterministic:
fixed mtimes and inode numbers) rather than by the cpio tool.

Guest userspace per architecture (:func:`guest_tools`): on x86_64 the host's own
``busybox-static`` and ``kexec-tools``; for arm64 and ppc64el the same packages of
the guest's architecture from panicpath's private apt state
(:mod:`panicpath.lab.archive`, suite :data:`~panicpath.lab.archive.USERSPACE_SUITE`),
with the packages kexec depends on, unpacked under ``CACHE/guest/DEBARCH``. The
binaries of a foreign architecture cannot run on the host, so the libraries kexec
needs are read from its ELF headers (``PT_INTERP`` and the ``DT_NEEDED`` closure,
:func:`elf_info`) and busybox's applets from its applet-name table
(:func:`busybox_applets`), never from ``ldd`` or ``busybox --list``.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import lzma
import os
import re
import shutil
import stat
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from panicpath.lab.archive import (
    DEB_ARCHES,
    USERSPACE_SUITE,
    Archive,
    parse_depends_field,
    parse_show_field,
)
from panicpath.lab.kernels import KernelFiles, LabSetupError, cache_dir

INIT_SCRIPT = Path(__file__).resolve().parent / "templates" / "init.sh"
BUSYBOX = Path("/bin/busybox")
KEXEC = Path("/usr/sbin/kexec")
#: Modules the guest loads (as ``/lib/modules/RELEASE/NAME``): where each is in the
#: image package, oldest layout last, and the config symbols that build it. A module
#: none of whose symbols is ``=m`` is left out (no pvpanic on arm64 and ppc64el, no
#: pvpanic-mmio before 5.12); one that should be there and is not is an incomplete
#: unpack. pvpanic: drivers/misc/pvpanic.c (5.10, ``CONFIG_PVPANIC`` tristate), split
#: into drivers/misc/pvpanic/ in 5.12 (Makefile: ``obj-$(CONFIG_PVPANIC_MMIO) +=
#: pvpanic.o pvpanic-mmio.o``; ``CONFIG_PVPANIC`` became the menu's bool).
MODULES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("drivers/misc/pvpanic/pvpanic.ko", "drivers/misc/pvpanic.ko"),
     ("CONFIG_PVPANIC_MMIO", "CONFIG_PVPANIC")),
    (("drivers/misc/pvpanic/pvpanic-mmio.ko",), ("CONFIG_PVPANIC_MMIO",)),
    (("fs/pstore/ramoops.ko",), ("CONFIG_PSTORE_RAM",)),
    (("lib/reed_solomon/reed_solomon.ko",), ("CONFIG_REED_SOLOMON",)),
)
#: Modules only the first kernel loads, in the payload archive (not in the crash kernel's
#: initrd): the i6300esb watchdog driver and the watchdog core it needs
#: (drivers/watchdog/i6300esb.c, watchdog_core.c; Debian's amd64 flavour builds both as
#: modules, the cloud flavours have no ``CONFIG_I6300ESB_WDT``: then neither is carried).
FIRST_KERNEL_MODULES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("drivers/watchdog/watchdog.ko",), ("CONFIG_I6300ESB_WDT",)),
    (("drivers/watchdog/i6300esb.ko",), ("CONFIG_I6300ESB_WDT",)),
)
#: The host architecture (lab name), whose guests use the host's own tools.
HOST_ARCH = "x86_64"
#: Lab arch -> (ELF e_machine: EM_X86_64, EM_AARCH64, EM_PPC64 from include/uapi/linux/elf-em.h,
#: Debian multiarch triplet where its libraries live).
ELF_ARCH = {
    "x86_64": (62, "x86_64-linux-gnu"),
    "arm64": (183, "aarch64-linux-gnu"),
    "ppc64el": (21, "powerpc64le-linux-gnu"),
}


@dataclass(frozen=True)
class Entry:
    """One cpio member: a directory, a regular file, a symlink or a char device."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


def directory(name: str) -> Entry:
    return Entry(name, stat.S_IFDIR | 0o755)


def regular(name: str, data: bytes, perm: int = 0o644) -> Entry:
    return Entry(name, stat.S_IFREG | perm, data)


def symlink(name: str, target: str) -> Entry:
    return Entry(name, stat.S_IFLNK | 0o777, target.encode())


def chardev(name: str, major: int, minor: int) -> Entry:
    return Entry(name, stat.S_IFCHR | 0o600, b"", (major, minor))


def _pad4(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


def newc(entries: list[Entry]) -> bytes:
    """A cpio archive in the "newc" format (Documentation/driver-api/early-userspace/
    buffer-format.rst), ending with the TRAILER!!! record."""
    out = bytearray()
    for ino, e in enumerate([*entries, Entry("TRAILER!!!", 0)], start=1):
        name = e.name.encode() + b"\0"
        fields = [ino if e.name != "TRAILER!!!" else 0, e.mode, 0, 0, 1, 0, len(e.data),
                  0, 0, e.rdev[0], e.rdev[1], len(name), 0]
        header = b"070701" + b"".join(f"{v:08X}".encode() for v in fields)
        out += header + name + _pad4(len(header) + len(name)) + e.data + _pad4(len(e.data))
    return bytes(out)


@dataclass(frozen=True)
class ElfInfo:
    """What an ELF file says about running it: machine, program interpreter, needed sonames."""

    machine: int
    interp: str | None
    needed: tuple[str, ...]


def elf_info(data: bytes) -> ElfInfo:
    """``e_machine``, ``PT_INTERP`` and ``DT_NEEDED`` of a 64-bit little-endian ELF
    (the lab's three architectures), from the headers (elf(5))."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    machine, = struct.unpack_from("<H", data, 18)
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    loads: list[tuple[int, int, int]] = []          # vaddr, offset, filesz
    interp = None
    dynamic = None
    for i in range(phnum):
        ptype, _, off, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data,
                                                              phoff + i * phentsize)
        if ptype == 1:                              # PT_LOAD
            loads.append((vaddr, off, filesz))
        elif ptype == 3:                            # PT_INTERP
            interp = data[off:off + filesz].rstrip(b"\0").decode()
        elif ptype == 2:                            # PT_DYNAMIC
            dynamic = (off, filesz)
    needed_offsets: list[int] = []
    strtab = None
    if dynamic is not None:
        for j in range(dynamic[1] // 16):
            tag, val = struct.unpack_from("<qQ", data, dynamic[0] + 16 * j)
            if tag == 0:                            # DT_NULL
                break
            if tag == 1:                            # DT_NEEDED
                needed_offsets.append(val)
            elif tag == 5:                          # DT_STRTAB (a virtual address)
                strtab = next((off + val - va for va, off, sz in loads if va <= val < va + sz),
                              None)
    needed = []
    if strtab is not None:
        for n in needed_offsets:
            end = data.index(b"\0", strtab + n)
            needed.append(data[strtab + n:end].decode())
    return ElfInfo(machine, interp, tuple(needed))


def resolve_in(root: Path, path: str, depth: int = 0) -> Path:
    """``path`` (absolute or not) inside ``root``, following symlinks as if ``root``
    were ``/`` (an unpacked package's absolute symlinks must not reach the host's files)."""
    if depth > 40:
        raise LabSetupError(f"too many symlinks resolving {path} in {root}")
    parts = [p for p in path.split("/") if p]
    cur = root
    for i, part in enumerate(parts):
        cur = cur / part
        if cur.is_symlink():
            target = os.readlink(cur)
            rel = cur.parent.relative_to(root)
            new = target if target.startswith("/") else os.path.normpath(f"/{rel}/{target}")
            return resolve_in(root, "/".join([new, *parts[i + 1:]]), depth + 1)
    return cur


def library_files(binary: Path, root: Path, arch: str) -> list[tuple[str, Path]]:
    """The shared objects a dynamically linked binary needs, as (path in the guest,
    file on the host): its interpreter and the ``DT_NEEDED`` closure, each found in
    ``root``'s multiarch, ``lib64`` and plain library directories, as glibc's ld.so
    searches them without an ld.so.cache."""
    triplet = ELF_ARCH[arch][1]
    dirs = [f"lib/{triplet}", f"usr/lib/{triplet}", "lib64", "usr/lib64", "lib", "usr/lib"]
    info = elf_info(binary.read_bytes())
    out: list[tuple[str, Path]] = []
    if info.interp:
        out.append((info.interp.lstrip("/"), resolve_in(root, info.interp)))
    queue = list(info.needed)
    seen: set[str] = set()
    while queue:
        soname = queue.pop(0)
        if soname in seen:
            continue
        seen.add(soname)
        found = next((d for d in dirs if resolve_in(root, f"{d}/{soname}").is_file()), None)
        if found is None:
            raise LabSetupError(f"{soname}, needed by {binary.name} ({arch}), is not in {root}; "
                                f"run: rm -rf {root} and retry")
        real = resolve_in(root, f"{found}/{soname}")
        if not info.interp or soname != info.interp.rsplit("/", 1)[-1]:
            out.append((f"{found}/{soname}", real))   # libc's DT_NEEDED ld.so: the interp
        queue += elf_info(real.read_bytes()).needed
    return out


def busybox_applets(data: bytes) -> list[str]:
    """Applet names of a busybox binary, read from its packed, sorted name table
    (busybox's generated ``applet_names[]``: ``"[" NUL "[[" NUL "acpid" NUL ...``), so
    that a foreign architecture's busybox need not run on the host."""
    start = data.find(b"\0[\0[[\0")
    if start < 0:
        raise LabSetupError("no applet table in the busybox binary; run: apt-get install "
                            "busybox-static")
    names: list[str] = []
    for raw in data[start + 1:].split(b"\0"):
        name = raw.decode("ascii", "replace")
        if not re.fullmatch(r"[\w.\[\]-]+", name) or (names and name <= names[-1]):
            break
        names.append(name)
    return names


@dataclass(frozen=True)
class GuestTools:
    """The guest's userspace binaries for one arch, and the root their libraries are in."""

    arch: str
    root: Path
    busybox: Path
    kexec: Path


def _foreign_tools(arch: str, cache: Path | None, archive: Archive | None) -> GuestTools:
    """busybox-static, kexec-tools and kexec's library packages of ``arch``, unpacked
    once under ``CACHE/guest/DEBARCH``."""
    deb_arch = DEB_ARCHES[arch]
    top = (cache or cache_dir()) / "guest" / deb_arch
    tools = GuestTools(arch, top / "root", top / "root" / "bin" / "busybox",
                       top / "root" / "sbin" / "kexec")
    stamp = top / ".complete"
    if stamp.exists():
        return tools
    archive = archive or Archive((cache or cache_dir()) / "apt")
    top.mkdir(parents=True, exist_ok=True)
    with (top.parent / f"{deb_arch}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stamp.exists():
            return tools
        specs = [f"busybox-static:{deb_arch}/{USERSPACE_SUITE}"]
        queue, seen = ["kexec-tools"], set()
        while queue:                # kexec-tools and the library packages it needs
            pkg = queue.pop(0)
            if pkg in seen:
                continue
            seen.add(pkg)
            spec = f"{pkg}:{deb_arch}/{USERSPACE_SUITE}"
            specs.append(spec)
            depends = parse_show_field(archive.apt_cache("show", spec), "Depends")
            queue += [d for d in parse_depends_field(depends) if d.startswith(("lib", "zlib"))]
        debs = top / "debs"
        if debs.exists():
            shutil.rmtree(debs)
        archive.download(specs, debs)
        if tools.root.exists():
            shutil.rmtree(tools.root)
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(tools.root)], check=True,
                           capture_output=True)
        for f in (tools.busybox, tools.kexec):
            if not f.exists():
                raise LabSetupError(f"{f} missing after unpacking; run: rm -rf {top} and retry")
        stamp.write_text(" ".join(specs) + "\n")
    return tools


def guest_tools(arch: str = HOST_ARCH, cache: Path | None = None,
                archive: Archive | None = None) -> GuestTools:
    """busybox and kexec for a guest of ``arch``: the host's own on x86_64 (installed by
    scripts/install-deps.sh), the private archive's for arm64 and ppc64el."""
    if arch not in ELF_ARCH:
        raise LabSetupError(f"arch {arch!r} is not known; valid: {', '.join(ELF_ARCH)}")
    if arch != HOST_ARCH:
        return _foreign_tools(arch, cache, archive)
    for tool, pkg in ((BUSYBOX, "busybox-static"), (KEXEC, "kexec-tools")):
        if not tool.exists():
            raise LabSetupError(f"{tool} not found; run: apt-get install {pkg}")
    return GuestTools(arch, Path("/"), BUSYBOX, KEXEC)


def _config_value(kernel: KernelFiles, symbol: str) -> str | None:
    """``y``/``m``/a value of a kernel config symbol, None when unset (or no config)."""
    if not kernel.config.exists():
        return None
    m = re.search(rf"(?m)^{symbol}=(.*)$", kernel.config.read_text())
    return m[1] if m else None


def _with_parents(entries: list[Entry]) -> list[Entry]:
    """Entries preceded by every parent directory they need, once each."""
    dirs: list[str] = []
    for e in entries:
        parts = e.name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.append(d)
    known = {e.name for e in entries}
    return [directory(d) for d in dirs if d not in known] + entries


def base_entries(kernel: KernelFiles, tools: GuestTools | None = None) -> list[Entry]:
    """Members of the base archive for one kernel: the same layout on every arch,
    with ``tools`` (default :func:`guest_tools` of the kernel's arch)."""
    tools = tools or guest_tools(kernel.arch)
    machine = ELF_ARCH[kernel.arch][0]
    busybox = tools.busybox.read_bytes()
    kexec = tools.kexec.read_bytes()
    for name, data in (("busybox", busybox), ("kexec", kexec)):
        if elf_info(data).machine != machine:
            raise LabSetupError(f"{name} in {tools.root} is not a {kernel.arch} binary; "
                                f"run: rm -rf {tools.root.parent} and retry")
    out = [directory(d) for d in ("proc", "sys", "dev", "tmp", "lab", "boot", "bin")]
    out.append(chardev("dev/console", 5, 1))
    out.append(regular("init", INIT_SCRIPT.read_bytes(), 0o755))
    out.append(regular("bin/busybox", busybox, 0o755))
    out += [symlink(f"bin/{a}", "busybox") for a in busybox_applets(busybox) if a != "busybox"]
    out.append(symlink("sbin", "bin"))
    out.append(regular("bin/kexec", kexec, 0o755))
    for name, real in library_files(tools.kexec, tools.root, kernel.arch):
        out.append(regular(name, real.read_bytes(), 0o755))
    out += module_entries(kernel, MODULES)
    return _with_parents(out)


def module_entries(kernel: KernelFiles,
                   table: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]) -> list[Entry]:
    """``lib/modules/RELEASE/NAME`` entries for the modules of ``table`` the kernel builds
    (see MODULES: left out when none of an entry's symbols is ``=m``)."""
    out = []
    mods = f"lib/modules/{kernel.release}"
    for paths, symbols in table:
        found = next((p for rel in paths for p in (
            kernel.modules / rel, kernel.modules / f"{rel}.xz", kernel.modules / f"{rel}.gz")
            if p.exists()), None)
        name = Path(paths[0]).name
        if found is None:
            if kernel.config.exists() and all(_config_value(kernel, s) != "m"
                                              for s in symbols):
                continue
            raise LabSetupError(f"{kernel.modules / paths[0]} missing from linux-image-"
                                f"{kernel.release}; run: rm -rf {kernel.root.parent} and retry")
        out.append(regular(f"{mods}/{name}", module_bytes(found)))
    return out


def has_watchdog_driver(kernel: KernelFiles) -> bool:
    """Whether the kernel can drive the i6300esb watchdog: ``CONFIG_I6300ESB_WDT`` m or y
    in its config (Debian's cloud flavours do not set it)."""
    return _config_value(kernel, "CONFIG_I6300ESB_WDT") in ("m", "y")


def module_bytes(path: Path) -> bytes:
    """A module's ELF bytes: Debian compresses modules from 6.12 on
    (``CONFIG_MODULE_COMPRESS_XZ``: ``ramoops.ko.xz``); the initramfs keeps them plain,
    so that ``/init``'s ``insmod NAME.ko`` is the same for every kernel."""
    data = path.read_bytes()
    if path.suffix == ".xz":
        return lzma.decompress(data)
    if path.suffix == ".gz":
        return gzip.decompress(data)
    return data


def aligned(archive: bytes) -> bytes:
    """An archive padded with NUL bytes to a multiple of 4, so that another may follow.

    init/initramfs.c unpack_to_rootfs() (6.1) skips NUL bytes between archives but
    takes an uncompressed cpio only at a 4-byte aligned offset (``!(this_header &
    3)``); after a gzip member of any other length it reports "invalid magic at
    start of compressed archive" and drops the rest of the initrd."""
    return archive + b"\0" * (-len(archive) % 4)


@dataclass(frozen=True)
class Initrds:
    """Cached archives of one kernel: the crash kernel's initrd and the first
    kernel's initrd without a probe."""

    crash: Path
    first: Path


def ensure_initrds(kernel: KernelFiles, cache: Path | None = None) -> Initrds:
    """Build (once per kernel and /init version) the base and first-kernel initrds."""
    init_digest = hashlib.sha256(INIT_SCRIPT.read_bytes()).hexdigest()[:12]
    out = (cache or cache_dir()) / "initrd" / kernel.release / init_digest
    res = Initrds(out / "crash-initrd.gz", out / "first-initrd")
    if res.first.exists():
        return res
    out.mkdir(parents=True, exist_ok=True)
    base = gzip.compress(newc(base_entries(kernel)), compresslevel=6, mtime=0)
    payload = newc(_with_parents([
        regular("boot/vmlinuz", kernel.vmlinuz.read_bytes()),
        regular("boot/crash-initrd.gz", base),
        *module_entries(kernel, FIRST_KERNEL_MODULES),
    ]))
    tmp = out / "first-initrd.tmp"
    tmp.write_bytes(aligned(base) + payload)
    res.crash.write_bytes(base)
    tmp.rename(res.first)
    return res


def first_initrd(initrds: Initrds, probe_ko: Path | None, run_dir: Path) -> Path:
    """The first kernel's initrd for a run: the cached one, plus the probe if any."""
    if probe_ko is None:
        return initrds.first
    path = run_dir / "initrd"
    with path.open("wb") as f, initrds.first.open("rb") as src:
        shutil.copyfileobj(src, f)
        f.write(newc(_with_parents([regular("lab/panicpath_probe.ko", probe_ko.read_bytes())])))
    return path
