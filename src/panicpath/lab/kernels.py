"""Kernel supply: a Debian kernel image and its headers, per release, arch and flavour.

The kernels come from panicpath's private apt state (:mod:`panicpath.lab.archive`),
which lists every suite and architecture the lab uses without touching the
machine's apt set-up. A release series (``6.1``) maps to the suite that carries
it, and the ABI name (``6.1.0-57-cloud-arm64``, which changes with Debian point
releases) is read from the flavour metapackage's dependency in that suite, so
neither is written down (:func:`panicpath.lab.archive.choose_kernel`).

Fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into one root
(where the headers' relative symlinks resolve): the image and every package of
that upload it depends on (7.x splits the image into ``linux-binary-*`` and
``linux-modules-*``), the headers with their ``linux-headers-*-common``, and
the host architecture's ``linux-kbuild-*`` (the build tools run on the host even
when the guest is arm64 or ppc64el).

Cache: ``$PANICPATH_CACHE`` or ``~/.cache/panicpath``, then ``kernels/ABI`` (the ABI
name names release series, flavour and so arch); ``kernel.json`` there records
release, arch, flavour, suite and version. A lock file serialises concurrent
suppliers (two campaign jobs, two pytest processes); a ``.complete`` stamp
marks a finished unpack.
"""

from __future__ import annotations

import fcntl
import json
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from panicpath.lab.archive import (
    DEB_ARCHES,
    FLAVOURS,
    HOST_DEB_ARCH,
    Archive,
    KernelChoice,
    LabSetupError,
    abi_from_depends,
    choose_kernel,
    newest_per_series,
    parse_depends_field,
    parse_show_field,
    run_tool,
)
from panicpath.lab.archive import cache_dir as cache_dir

__all__ = ["CarriedKernel", "KernelFiles", "LabSetupError", "cache_dir", "carried_kernels",
           "ensure_kernel", "kernel_packages", "parse_depends"]


@dataclass(frozen=True)
class KernelFiles:
    """An unpacked kernel: image, modules and the headers' build directory.

    ``release`` is the ABI name (``uname -r``); ``series`` the release series
    (``6.1``); ``arch`` the lab architecture (x86_64, arm64, ppc64el)."""

    flavour: str
    release: str
    root: Path
    arch: str = "x86_64"
    series: str = "6.1"

    def _either(self, boot_name: str, modules_name: str) -> Path:
        """A file of the image package: under ``/boot`` (Debian up to 6.12) or, from the
        7.x packages on, in ``/usr/lib/modules/ABI/`` (where the 7.x image package puts
        ``vmlinuz``, ``config`` and ``System.map``); the first when neither exists."""
        first = self.root / "boot" / boot_name
        second = self.root / "usr" / "lib" / "modules" / self.release / modules_name
        return second if not first.exists() and second.exists() else first

    @property
    def vmlinuz(self) -> Path:
        """The bootable image: ``vmlinuz`` (x86_64 bzImage, arm64 Image), or ppc64el's
        ``vmlinux`` (an ELF, which QEMU's pseries machine loads as is; the 7.x packages
        call it ``vmlinuz`` too)."""
        name = "vmlinux" if self.arch == "ppc64el" else "vmlinuz"
        return self._either(f"{name}-{self.release}", "vmlinuz")

    @property
    def config(self) -> Path:
        """The kernel's build configuration (``/boot/config-ABI``)."""
        return self._either(f"config-{self.release}", "config")

    @property
    def modules(self) -> Path:
        first = self.root / "lib" / "modules" / self.release / "kernel"
        second = self.root / "usr" / "lib" / "modules" / self.release / "kernel"
        return second if not first.exists() and second.exists() else first

    @property
    def build(self) -> Path:
        """The out-of-tree module build directory (``make -C`` target)."""
        return self.root / "usr" / "src" / f"linux-headers-{self.release}"


def parse_depends(apt_cache_output: str) -> list[str]:
    """Package names on ``Depends:`` lines of ``apt-cache depends`` output
    (virtual ``<name>`` alternatives are skipped)."""
    names = []
    for line in apt_cache_output.splitlines():
        m = re.match(r"^\s*\|?Depends: ([^<\s]\S*)\s*$", line)
        if m:
            names.append(m[1])
    return names


def _upload_member(name: str, choice: KernelChoice) -> str | None:
    """Which architecture a dependency of the image or headers is fetched for: the
    guest's (``guest``) for packages of this ABI (``linux-modules-ABI``,
    ``linux-headers-…-common``), the host's (``host``) for ``linux-kbuild-*``;
    None for anything else (linux-base, gcc, initramfs-tools)."""
    series_abi = choice.abi.removesuffix(f"-{choice.flavour}")    # 6.1.0-57, 7.3.4+deb13
    if name.startswith("linux-kbuild-"):
        return "host"
    if name.startswith(("linux-image-", "linux-headers-", "linux-binary-", "linux-modules-",
                        "linux-base-")) and series_abi in name:
        return "guest"
    return None


def kernel_packages(archive: Archive, choice: KernelChoice) -> list[str]:
    """``apt-get download`` specs (``PKG:ARCH/SUITE``) of the image, the headers and
    the packages of that upload they need, found by following ``Depends:``."""
    specs: list[str] = []
    seen: set[str] = set()
    queue = [f"linux-image-{choice.abi}", f"linux-headers-{choice.abi}"]
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        member = _upload_member(name, choice)
        arch = HOST_DEB_ARCH if member == "host" else choice.deb_arch
        stanza = ""
        for a in (arch, "all"):
            spec = f"{name}:{a}/{choice.suite}"
            try:
                stanza = archive.apt_cache("show", spec)
            except LabSetupError:
                continue
            if stanza.strip():
                # an arch:all package downloads only as PKG:all (apt-get download
                # PKG:arm64 of linux-headers-*-common: "Release … was not found")
                if parse_show_field(stanza, "Architecture") == "all":
                    spec = f"{name}:all/{choice.suite}"
                specs.append(spec)
                break
        else:
            raise LabSetupError(f"{name} is not in {choice.suite} for {arch}; run: "
                                f"remove CACHE/apt to rebuild panicpath's private apt state")
        if member == "host":
            continue
        for dep in parse_depends_field(parse_show_field(stanza, "Depends")):
            if _upload_member(dep, choice) is not None:
                queue.append(dep)
    return specs


def _relocate_headers(files: KernelFiles) -> None:
    """Point the flavour headers' ``include /usr/src/…-common/Makefile`` (and, from the
    7.x packages on, their ``KBUILD_OUTPUT=/usr/src/…``) at the unpacked copy, so the
    headers build without being installed system-wide. Idempotent."""
    makefile = files.build / "Makefile"
    if makefile.exists():
        text = makefile.read_text()
        new = re.sub(r"(?m)^(include |KBUILD_OUTPUT=)/usr/src/", rf"\g<1>{files.root}/usr/src/",
                     text)
        if new != text:
            makefile.write_text(new)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_kernel(flavour: str, cache: Path | None = None, *, release: str = "6.1",
                  arch: str = "x86_64", archive: Archive | None = None) -> KernelFiles:
    """The unpacked kernel of a release series, arch and flavour, downloading and
    unpacking it once. ``ensure_kernel("cloud-amd64")`` is the lab's x86_64 6.1
    cloud kernel. Unknown arch or flavour, or a release the archive does not carry
    for that arch: :class:`LabSetupError` naming what is carried."""
    root = cache or cache_dir()
    archive = archive or Archive(root / "apt")
    choice = choose_kernel(archive, release, arch, flavour)
    base = root / "kernels" / choice.abi
    files = KernelFiles(flavour, choice.abi, base / "root", arch, release)
    stamp = base / ".complete"
    if stamp.exists():
        _relocate_headers(files)  # caches unpacked before KBUILD_OUTPUT was relocated
        return files
    with _locked(base.parent / f"{choice.abi}.lock"):
        if stamp.exists():
            return files
        debs = base / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        specs = kernel_packages(archive, choice)
        missing = [s for s in specs if not any(debs.glob(f"{s.split(':')[0]}_*.deb"))]
        if missing:
            archive.download(missing, debs)
        if files.root.exists():
            shutil.rmtree(files.root)
        for deb in sorted(debs.glob("*.deb")):
            run_tool(["dpkg-deb", "-x", str(deb), str(files.root)], "apt-get install dpkg")
        _relocate_headers(files)
        for needed, pkg in ((files.vmlinuz, "linux-image"), (files.build / "Makefile",
                                                               "linux-headers")):
            if not needed.exists():
                raise LabSetupError(f"{needed} missing after unpacking; run: rm -rf {base} "
                                    f"and retry ({pkg}-{choice.abi} may be incomplete)")
        (base / "kernel.json").write_text(json.dumps(asdict(choice), indent=1) + "\n")
        stamp.write_text(choice.abi + "\n")
    return files


@dataclass(frozen=True)
class CarriedKernel(KernelChoice):
    """A kernel the archive carries, and whether the lab's cache holds it unpacked."""

    cached: bool = False


def carried_kernels(cache: Path | None = None,
                    archive: Archive | None = None) -> list[CarriedKernel]:
    """Every (release series, arch, flavour) the archive carries, oldest release first,
    each with its suite, version, ABI name and whether it is cached (unpacked under
    ``CACHE/kernels/ABI``). For ``panicpath lab kernels [--json]``:
    ``[dataclasses.asdict(k) for k in carried_kernels()]``."""
    root = cache or cache_dir()
    archive = archive or Archive(root / "apt")
    rows: list[tuple[str, str, str, str, str]] = []
    for arch, flavours in FLAVOURS.items():
        for flavour in flavours:
            carried = newest_per_series(archive.madison(f"linux-image-{flavour}",
                                                        DEB_ARCHES[arch]))
            rows += [(s, arch, flavour, r.suite, r.version) for s, r in carried.items()]
    specs = [f"linux-image-{f}:{DEB_ARCHES[a]}={v}" for _, a, f, _, v in rows]
    stanzas = [s for s in archive.apt_cache("show", *specs).split("\n\n") if s.strip()]
    depends = {(parse_show_field(s, "Package"), parse_show_field(s, "Architecture"),
                parse_show_field(s, "Version")): parse_show_field(s, "Depends") for s in stanzas}
    out = []
    for series, arch, flavour, suite, version in rows:
        abi = abi_from_depends(depends[(f"linux-image-{flavour}", DEB_ARCHES[arch], version)],
                               flavour)
        cached = (root / "kernels" / abi / ".complete").exists()
        out.append(CarriedKernel(series, arch, flavour, suite, version, abi, cached))
    arch_order = list(FLAVOURS)
    out.sort(key=lambda k: (tuple(int(x) for x in k.release.split(".")),
                            arch_order.index(k.arch), FLAVOURS[k.arch].index(k.flavour)))
    return out
