"""The lab's initramfs: busybox, kexec, a few modules and one ``/init`` for both kernels.

Three cpio archives are concatenated (the kernel unpacks concatenated archives,
init/initramfs.c unpack_to_rootfs(), 6.1; see ``aligned``):

1. ``base.cpio.gz`` (per kernel release): ``/init``, static busybox with its
   applet links, ``kexec`` with the shared libraries it links, the pvpanic,
   pvpanic-mmio, ramoops and reed_solomon modules. It is also the crash
   kernel's initrd.
2. ``payload.cpio`` (per kernel release, uncompressed since its contents
   already are): ``/boot/vmlinuz`` and ``/boot/crash-initrd.gz`` for ``kexec -p``.
3. ``probe.cpio`` (per scenario, optional): ``/lab/panicpath_probe.ko``.

The cpio "newc" format is written here directly (a few lines, deterministic:
fixed mtimes and inode numbers) rather than by the cpio tool.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from panicpath.lab.kernels import KernelFiles, LabSetupError, cache_dir

INIT_SCRIPT = Path(__file__).resolve().parent / "templates" / "init.sh"
BUSYBOX = Path("/bin/busybox")
KEXEC = Path("/usr/sbin/kexec")
MODULES = (
    "drivers/misc/pvpanic/pvpanic.ko",
    "drivers/misc/pvpanic/pvpanic-mmio.ko",
    "fs/pstore/ramoops.ko",
    "lib/reed_solomon/reed_solomon.ko",
)


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


def _libraries(binary: Path) -> list[Path]:
    """Shared objects a dynamically linked binary needs (from ldd)."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    return [Path(m) for m in re.findall(r"(/\S+) \(0x", proc.stdout)]


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


def base_entries(kernel: KernelFiles) -> list[Entry]:
    """Members of the base archive for one kernel."""
    for tool, pkg in ((BUSYBOX, "busybox-static"), (KEXEC, "kexec-tools")):
        if not tool.exists():
            raise LabSetupError(f"{tool} not found; run: apt-get install {pkg}")
    out = [directory(d) for d in ("proc", "sys", "dev", "tmp", "lab", "boot", "bin")]
    out.append(chardev("dev/console", 5, 1))
    out.append(regular("init", INIT_SCRIPT.read_bytes(), 0o755))
    out.append(regular("bin/busybox", BUSYBOX.read_bytes(), 0o755))
    applets = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    out += [symlink(f"bin/{a}", "busybox") for a in applets if a != "busybox"]
    out.append(symlink("sbin", "bin"))
    out.append(regular("bin/kexec", KEXEC.read_bytes(), 0o755))
    for lib in _libraries(KEXEC):
        out.append(regular(str(lib).lstrip("/"), lib.resolve().read_bytes(), 0o755))
    mods = f"lib/modules/{kernel.release}"
    for rel in MODULES:
        src = kernel.modules / rel
        if not src.exists():
            raise LabSetupError(f"{src} missing from linux-image-{kernel.release}; "
                                f"run: rm -rf {kernel.root.parent} and retry")
        out.append(regular(f"{mods}/{src.name}", src.read_bytes()))
    return _with_parents(out)


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
