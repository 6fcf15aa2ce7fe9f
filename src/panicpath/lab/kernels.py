"""Kernel supply: a Debian kernel image and its headers, from the package registry.

The ABI name (``6.1.0-56-cloud-amd64``) changes with Debian point releases, so
it is never written down: it is read from the dependency of the metapackage
(``apt-cache depends linux-image-cloud-amd64``). The image, the headers and the
packages the headers depend on (``linux-headers-…-common``, ``linux-kbuild-6.1``)
are fetched with ``apt-get download`` into a cache directory and unpacked with
``dpkg-deb -x`` into one root, where the headers' relative symlinks resolve.

Cache: ``$PANICPATH_CACHE`` or ``~/.cache/panicpath``, then ``kernels/RELEASE``.
A lock file serialises concurrent suppliers (two campaign jobs, two pytest
processes); a ``.complete`` stamp marks a finished unpack.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from panicpath.lab.scenario import Flavour


class LabSetupError(Exception):
    """Something the lab needs is missing; ``str()`` says what and the command to fix it."""


@dataclass(frozen=True)
class KernelFiles:
    """An unpacked kernel: image, modules and the headers' build directory."""

    flavour: str
    release: str
    root: Path

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.release}"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.release / "kernel"

    @property
    def build(self) -> Path:
        """The out-of-tree module build directory (``make -C`` target)."""
        return self.root / "usr" / "src" / f"linux-headers-{self.release}"


def cache_dir() -> Path:
    """The lab's cache root."""
    env = os.environ.get("PANICPATH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "panicpath"


def _run(cmd: list[str], fix: str, cwd: Path | None = None) -> str:
    if shutil.which(cmd[0]) is None:
        raise LabSetupError(f"{cmd[0]} not found; run: {fix}")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        err = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise LabSetupError(f"`{' '.join(cmd)}` failed: {err}; run: {fix}")
    return proc.stdout


def depends(package: str) -> list[str]:
    """Direct ``Depends:`` of a package, as apt-cache reports them."""
    out = _run(["apt-cache", "depends", package], "apt-get update")
    return parse_depends(out)


def parse_depends(apt_cache_output: str) -> list[str]:
    """Package names on ``Depends:`` lines of ``apt-cache depends`` output
    (virtual ``<name>`` alternatives are skipped)."""
    names = []
    for line in apt_cache_output.splitlines():
        m = re.match(r"^\s*\|?Depends: ([^<\s]\S*)\s*$", line)
        if m:
            names.append(m[1])
    return names


def resolve_release(flavour: Flavour) -> str:
    """The current ABI name of a flavour, from its metapackage's dependency."""
    meta = f"linux-image-{flavour}"
    prefix = "linux-image-"
    for dep in depends(meta):
        if dep.startswith(prefix) and dep.endswith(f"-{flavour}"):
            return dep[len(prefix):]
    raise LabSetupError(
        f"apt-cache knows no kernel behind {meta}; run: apt-get update "
        f"(Debian bookworm main must be in /etc/apt/sources.list)"
    )


def packages_for(release: str) -> list[str]:
    """Image, headers and the headers' own kernel-package dependencies."""
    headers = f"linux-headers-{release}"
    extra = [d for d in depends(headers) if d.startswith(("linux-headers-", "linux-kbuild-"))]
    for d in list(extra):
        extra += [x for x in depends(d) if x.startswith(("linux-headers-", "linux-kbuild-"))]
    seen: list[str] = []
    for p in [f"linux-image-{release}", headers, *extra]:
        if p not in seen:
            seen.append(p)
    return seen


def _relocate_headers(files: KernelFiles) -> None:
    """Point the flavour headers' ``include /usr/src/…-common/Makefile`` at the
    unpacked copy, so the headers build without being installed system-wide."""
    makefile = files.build / "Makefile"
    if makefile.exists():
        text = makefile.read_text()
        makefile.write_text(re.sub(r"(?m)^include /usr/src/", f"include {files.root}/usr/src/",
                                   text))


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def ensure_kernel(flavour: Flavour, cache: Path | None = None) -> KernelFiles:
    """The unpacked kernel of a flavour, downloading and unpacking it once."""
    release = resolve_release(flavour)
    base = (cache or cache_dir()) / "kernels" / release
    files = KernelFiles(flavour, release, base / "root")
    stamp = base / ".complete"
    if stamp.exists():
        return files
    with _locked(base.parent / f"{release}.lock"):
        if stamp.exists():
            return files
        debs = base / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        for pkg in packages_for(release):
            if not any(debs.glob(f"{pkg}_*.deb")):
                _run(["apt-get", "download", pkg],
                     f"apt-get update && apt-get download {pkg}", cwd=debs)
        if files.root.exists():
            shutil.rmtree(files.root)
        for deb in sorted(debs.glob("*.deb")):
            _run(["dpkg-deb", "-x", str(deb), str(files.root)], "apt-get install dpkg")
        _relocate_headers(files)
        for needed, pkg in ((files.vmlinuz, "linux-image"), (files.build / "Makefile",
                                                               "linux-headers")):
            if not needed.exists():
                raise LabSetupError(f"{needed} missing after unpacking; run: rm -rf {base} "
                                    f"and retry ({pkg}-{release} may be incomplete)")
        stamp.write_text(release + "\n")
    return files
