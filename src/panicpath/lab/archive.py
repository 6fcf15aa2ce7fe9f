"""A private apt state: every lab kernel and guest tool, any suite, any architecture.

The lab needs Debian packages the machine's apt does not list (arm64 and ppc64el
kernels, bullseye's 5.10, sid's 7.x) and must not change the machine's apt set-up
for them (no ``dpkg --add-architecture``, nothing under the machine's apt
directories written). So it keeps its own apt state under ``CACHE/apt``: a
deb822 sources file naming :data:`SUITES` (and their ``-security`` suites) for
:data:`DEB_ARCHES`, its own lists and package cache, and an empty dpkg status,
handed to ``apt-get``/``apt-cache`` with ``-o`` options (:meth:`Archive.options`).

The archive's URI is read at run time from the machine's own apt sources
(``apt-config`` names the files; one-line ``.list`` and deb822 ``.sources``): the
entry that serves a plain Debian suite gives the archive, the one serving a
``-security`` suite the security archive. No host name is written down here.

Kernel series map to suites by what the archive carries, not by a table: the
flavour metapackage (``linux-image-cloud-arm64``) is listed per suite with
``apt-cache madison``; its upstream version's first two numbers are the series
(``6.1.192-3`` → ``6.1``), and a series takes the highest version among the
suites that carry it (bookworm and bookworm-security both carry 6.1; the
security upload is newer). The ABI name is the metapackage's ``linux-image-*``
dependency in that version (``apt-cache show PKG:ARCH=VERSION``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Suites the private state lists (their ``-security`` suites too, when the
#: machine's sources name a security archive).
SUITES = ("bullseye", "bookworm", "trixie", "trixie-backports", "sid")
#: Lab architecture name -> Debian architecture.
DEB_ARCHES = {"x86_64": "amd64", "arm64": "arm64", "ppc64el": "ppc64el"}
#: Kernel flavours per lab architecture (Debian's ``linux-image-FLAVOUR`` metapackages).
FLAVOURS = {
    "x86_64": ("cloud-amd64", "amd64"),
    "arm64": ("cloud-arm64", "arm64"),
    "ppc64el": ("powerpc64le",),
}
#: The suite guest userspace (busybox-static, kexec-tools) and the host's tools come
#: from: the host's own release (the x86_64 lab used the machine's bookworm binaries).
USERSPACE_SUITE = "bookworm"
#: The machine's own architecture (the host the lab runs on).
HOST_DEB_ARCH = "amd64"
_DEBIAN_CODENAMES = ("buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid",
                     "oldstable", "stable", "testing", "unstable")


class LabSetupError(Exception):
    """Something the lab needs is missing; ``str()`` says what and the command to fix it."""


def cache_dir() -> Path:
    """The lab's cache root: ``$PANICPATH_CACHE`` or ``~/.cache/panicpath``."""
    env = os.environ.get("PANICPATH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "panicpath"


# --- the machine's apt sources ---------------------------------------------------------


@dataclass(frozen=True)
class SourceEntry:
    """One ``deb`` source of the machine: URIs, suites, components, key."""

    uris: tuple[str, ...]
    suites: tuple[str, ...]
    components: tuple[str, ...]
    signed_by: str = ""


def parse_one_line_sources(text: str) -> list[SourceEntry]:
    """``deb [opt=val ...] URI SUITE [COMPONENT...]`` lines (sources.list(5)); ``deb-src``
    and comments are skipped."""
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        m = re.match(r"^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        opts = dict(o.split("=", 1) for o in (m[1] or "").split() if "=" in o)
        out.append(SourceEntry((m[2],), (m[3],), tuple(m[4].split()),
                               opts.get("signed-by", "")))
    return out


def parse_deb822_sources(text: str) -> list[SourceEntry]:
    """Stanzas of a deb822 ``.sources`` file (sources.list(5)) with ``Types: deb``
    and not ``Enabled: no``."""
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0] in " \t" and key:
                fields[key] += " " + line.strip()
                continue
            if ":" in line:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        out.append(SourceEntry(tuple(fields.get("uris", "").split()),
                               tuple(fields.get("suites", "").split()),
                               tuple(fields.get("components", "").split()),
                               fields.get("signed-by", "")))
    return out


def machine_sources() -> list[SourceEntry]:
    """Every ``deb`` entry of the machine's apt sources (the files ``apt-config`` names)."""
    out = run_tool(["apt-config", "shell", "L", "Dir::Etc::SourceList/f",
                 "P", "Dir::Etc::SourceParts/d"], "apt-get install apt")
    paths = dict(re.findall(r"^(\w+)='([^']*)'$", out, re.M))
    entries: list[SourceEntry] = []
    listed = Path(paths.get("L", ""))
    if paths.get("L") and listed.is_file():
        entries += parse_one_line_sources(listed.read_text())
    parts = Path(paths.get("P", ""))
    if paths.get("P") and parts.is_dir():
        for f in sorted(parts.iterdir()):
            if f.suffix == ".list":
                entries += parse_one_line_sources(f.read_text())
            elif f.suffix == ".sources":
                entries += parse_deb822_sources(f.read_text())
    return entries


def pick_archives(entries: list[SourceEntry]) -> tuple[SourceEntry, SourceEntry | None]:
    """The machine's Debian archive (an entry serving a plain Debian suite with ``main``)
    and its security archive (an entry serving a ``-security`` suite), if any. Entries
    signed by Debian's archive keyring come first (a vendor's repository may also
    name its suite ``bookworm``)."""
    ordered = sorted(entries, key=lambda e: "debian-archive-keyring" not in e.signed_by)
    archive = next((e for e in ordered if "main" in e.components and e.uris
                    and any(s in _DEBIAN_CODENAMES for s in e.suites)), None)
    security = next((e for e in ordered if "main" in e.components and e.uris
                     and any(s.endswith("-security") for s in e.suites)), None)
    if archive is None:
        raise LabSetupError("no Debian archive (a `deb` entry with a suite such as bookworm "
                            "and component main) in the machine's apt sources; run: add one "
                            "to /etc/apt/sources.list.d/ and apt-get update")
    return archive, security


def private_sources(archive: SourceEntry, security: SourceEntry | None) -> str:
    """The private state's deb822 sources: :data:`SUITES` from the archive, their
    ``-security`` suites from the security archive, for every :data:`DEB_ARCHES`."""
    arches = " ".join(sorted(set(DEB_ARCHES.values())))

    def stanza(e: SourceEntry, suites: list[str]) -> str:
        lines = ["Types: deb", f"URIs: {e.uris[0]}", f"Suites: {' '.join(suites)}",
                 "Components: main", f"Architectures: {arches}"]
        if e.signed_by:
            lines.append(f"Signed-By: {e.signed_by}")
        return "\n".join(lines) + "\n"

    out = stanza(archive, list(SUITES))
    if security is not None:
        sec = [f"{s}-security" for s in SUITES if s != "sid" and "-" not in s]
        out += "\n" + stanza(security, sec)
    return out


# --- apt output parsers and Debian versions --------------------------------------------


@dataclass(frozen=True)
class Listing:
    """One row of ``apt-cache madison``: a package version in a suite for an architecture."""

    package: str
    version: str
    suite: str
    arch: str

    @property
    def family(self) -> str:
        """The suite without ``-security``/``-updates`` (bookworm-security → bookworm)."""
        return re.sub(r"-(security|updates)$", "", self.suite)


def parse_madison(text: str) -> list[Listing]:
    """Rows ``PKG | VERSION | URI SUITE/COMPONENT ARCH Packages`` of ``apt-cache madison``."""
    out = []
    for line in text.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) != 3:
            continue
        src = cols[2].split()
        if len(src) < 3 or "/" not in src[1]:
            continue
        out.append(Listing(cols[0].split(":")[0], cols[1], src[1].split("/")[0], src[2]))
    return out


def parse_show_field(text: str, field: str) -> str:
    """A field of the first stanza of ``apt-cache show`` output ("" when absent)."""
    stanza = text.split("\n\n", 1)[0]
    m = re.search(rf"(?m)^{re.escape(field)}: (.*(?:\n .*)*)", stanza)
    return m[1].replace("\n", "") if m else ""


def parse_depends_field(value: str) -> list[str]:
    """Package names of a ``Depends:`` field (first of each ``|`` alternative,
    version constraints and ``:any`` dropped)."""
    out = []
    for clause in value.split(","):
        name = clause.split("|")[0].strip().split(" ")[0].split(":")[0]
        if name:
            out.append(name)
    return out


def _order(c: str) -> int:
    if c == "~":
        return -1
    if c.isdigit():
        return 0
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _verrevcmp(a: str, b: str) -> int:
    """dpkg's lib/dpkg/version.c verrevcmp(): non-digit runs compared by :func:`_order`,
    digit runs numerically."""
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and not a[i].isdigit()) or (j < len(b) and not b[j].isdigit()):
            ac = _order(a[i]) if i < len(a) else 0
            bc = _order(b[j]) if j < len(b) else 0
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i].isdigit() and j < len(b) and b[j].isdigit():
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i].isdigit():
            return 1
        if j < len(b) and b[j].isdigit():
            return -1
        if first_diff:
            return first_diff
    return 0


def compare_versions(a: str, b: str) -> int:
    """Debian version order (deb-version(7)): <0, 0, >0 as ``a`` sorts before, with, after ``b``."""
    def split(v: str) -> tuple[int, str, str]:
        epoch, _, rest = v.rpartition(":") if ":" in v else ("0", "", v)
        upstream, _, rev = rest.rpartition("-") if "-" in rest else (rest, "", "")
        return int(epoch or 0), upstream, rev
    ea, ua, ra = split(a)
    eb, ub, rb = split(b)
    if ea != eb:
        return ea - eb
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


def series_of(version: str) -> str:
    """A kernel package version's release series: ``6.1.192-3`` → ``6.1``,
    ``7.3.4-1~bpo13+1`` → ``7.3``."""
    m = re.match(r"^(?:\d+:)?(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"not a kernel version: {version!r}")
    return f"{m[1]}.{m[2]}"


# --- the private state -----------------------------------------------------------------


def run_tool(cmd: list[str], fix: str, cwd: Path | None = None,
             error: type[LabSetupError] = LabSetupError) -> str:
    """Run a tool; a failure is one line (an ``error``): the command without its ``-o``
    options, apt's last ``E:`` line (or stderr's last) and the fix."""
    if shutil.which(cmd[0]) is None:
        raise error(f"{cmd[0]} not found; run: {fix}")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        err = ([ln for ln in lines if ln.startswith("E:")] or lines or ["(no message)"])[-1]
        shown = [a for i, a in enumerate(cmd) if a != "-o" and (i == 0 or cmd[i - 1] != "-o")]
        raise error(f"`{' '.join(shown)}` failed: {err}; run: {fix}")
    return proc.stdout


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, mode)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class Archive:
    """The private apt state under ``ROOT`` (default ``CACHE/apt``).

    Layout: ``etc/sources.list`` (empty), ``etc/sources.list.d/lab.sources``,
    ``etc/preferences.d/`` (empty: no pinning from the machine), ``state/lists``,
    ``state/status`` (empty: no package counts as installed), ``cache/`` (with its
    own ``pkgcache.bin``: the machine's apt.conf may disable that binary cache, and
    without it each query re-reads ~220 MB of lists, 10 s instead of 40 ms).
    """

    def __init__(self, root: Path | None = None, sources: str | None = None) -> None:
        self.root = root or cache_dir() / "apt"
        self._sources = sources

    @property
    def sources_file(self) -> Path:
        return self.root / "etc" / "sources.list.d" / "lab.sources"

    def options(self) -> list[str]:
        """The ``-o`` options that make apt-get/apt-cache use this state only."""
        r = self.root
        opts = {
            "Dir::Etc::SourceList": r / "etc" / "sources.list",
            "Dir::Etc::SourceParts": r / "etc" / "sources.list.d",
            "Dir::Etc::Preferences": r / "etc" / "preferences",
            "Dir::Etc::PreferencesParts": r / "etc" / "preferences.d",
            "Dir::State": r / "state",
            "Dir::State::status": r / "state" / "status",
            "Dir::Cache": r / "cache",
            "Dir::Cache::pkgcache": "pkgcache.bin",
            "Dir::Cache::srcpkgcache": "",
            "APT::Architectures": ",".join(sorted(set(DEB_ARCHES.values()))),
            # root's downloads into a private directory the _apt user cannot reach
            "APT::Sandbox::User": "root",
        }
        return [a for k, v in opts.items() for a in ("-o", f"{k}={v}")]

    def _write_layout(self, text: str) -> None:
        for d in ("etc/sources.list.d", "etc/preferences.d", "state/lists/partial",
                  "cache/archives/partial"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        for f in ("etc/sources.list", "etc/preferences", "state/status"):
            (self.root / f).touch()
        self.sources_file.write_text(text)

    def ensure(self) -> None:
        """Create the state and ``apt-get update`` it when it has no lists yet or
        the machine's archive changed (a stamp holds the sources' digest)."""
        text = self._sources if self._sources is not None else private_sources(
            *pick_archives(machine_sources()))
        digest = hashlib.sha256(text.encode()).hexdigest()
        stamp = self.root / "updated"
        if stamp.exists() and stamp.read_text().strip() == digest:
            return
        with _flock(self.root.parent / "apt.lock", fcntl.LOCK_EX):
            if stamp.exists() and stamp.read_text().strip() == digest:
                return
            self._write_layout(text)
            self._update()
            stamp.write_text(digest + "\n")

    def refresh(self) -> None:
        """``apt-get update`` the private state now (new uploads, a 404 on download)."""
        self.ensure()
        with _flock(self.root.parent / "apt.lock", fcntl.LOCK_EX):
            self._update()

    def _update(self) -> None:
        run_tool(["apt-get", *self.options(), "-q", "update"],
              "check the machine's apt sources and network (the lab's own state is "
              f"{self.root}; remove it to start afresh)")

    def apt_cache(self, *args: str) -> str:
        self.ensure()
        with _flock(self.root.parent / "apt.lock", fcntl.LOCK_SH):
            return run_tool(["apt-cache", *self.options(), *args],
                         "panicpath's private apt state: remove CACHE/apt to rebuild it")

    def madison(self, package: str, deb_arch: str) -> list[Listing]:
        """Every version of ``package`` for ``deb_arch`` in the listed suites."""
        return [r for r in parse_madison(self.apt_cache("madison", f"{package}:{deb_arch}"))
                if r.arch in (deb_arch, "all")]

    def show(self, package: str, deb_arch: str, version: str) -> str:
        return self.apt_cache("show", f"{package}:{deb_arch}={version}")

    def download(self, specs: list[str], dest: Path) -> None:
        """``apt-get download`` ``specs`` (``PKG:ARCH=VERSION`` or ``PKG:ARCH/SUITE``) into
        ``dest``; on failure the lists are refreshed once and the download retried
        (an upload may have replaced the version the lists name)."""
        dest.mkdir(parents=True, exist_ok=True)
        cmd = ["apt-get", *self.options(), "-q", "download", *specs]
        fix = ("retry later, or choose another release (the private lists were refreshed; "
               "a 404 is a file the archive lists but does not serve)")
        self.ensure()
        lock = self.root.parent / "apt.lock"
        try:
            with _flock(lock, fcntl.LOCK_SH):       # no update may rewrite the lists meanwhile
                run_tool(cmd, fix, cwd=dest)
        except LabSetupError:
            self.refresh()
            with _flock(lock, fcntl.LOCK_SH):
                run_tool(cmd, fix, cwd=dest)


# --- kernels the archive carries -------------------------------------------------------


@dataclass(frozen=True)
class KernelChoice:
    """A kernel the archive carries: release series, lab arch, flavour, where and which."""

    release: str
    arch: str
    flavour: str
    suite: str
    version: str
    abi: str

    @property
    def deb_arch(self) -> str:
        return DEB_ARCHES[self.arch]


def check_arch_flavour(arch: str, flavour: str) -> None:
    """Raise :class:`LabSetupError` for an unknown arch or a flavour that arch lacks."""
    if arch not in DEB_ARCHES:
        raise LabSetupError(f"arch {arch!r} is not known; valid: {', '.join(DEB_ARCHES)}")
    if flavour not in FLAVOURS[arch]:
        raise LabSetupError(f"flavour {flavour!r} does not exist for {arch}; valid: "
                            f"{', '.join(FLAVOURS[arch])}")


def newest_per_series(rows: list[Listing]) -> dict[str, Listing]:
    """The highest version per release series among metapackage rows of :data:`SUITES`
    (a suite's ``-security`` upload counts as that suite)."""
    best: dict[str, Listing] = {}
    for r in rows:
        if r.family not in SUITES:
            continue
        s = series_of(r.version)
        if s not in best or compare_versions(r.version, best[s].version) > 0:
            best[s] = r
    return best


def abi_from_depends(depends: str, flavour: str) -> str:
    """The ABI name in a flavour metapackage's ``Depends:``
    (``linux-image-6.1.0-57-cloud-arm64 (= 6.1.192-3)`` → ``6.1.0-57-cloud-arm64``)."""
    for name in parse_depends_field(depends):
        # the version part has no letters but ``+debNN``/``+bpo``: so ``arm64`` does not
        # take ``linux-image-6.1.0-57-cloud-arm64``
        m = re.fullmatch(rf"linux-image-(\d[\w.+~]*(?:-\d+)?-{re.escape(flavour)})", name)
        if m:
            return m[1]
    raise LabSetupError(f"no linux-image-*-{flavour} in the metapackage's Depends: {depends!r}; "
                        "run: remove CACHE/apt to rebuild panicpath's private apt state")


def releases(archive: Archive, arch: str, flavour: str) -> dict[str, Listing]:
    """Release series → the metapackage version the archive carries for it."""
    check_arch_flavour(arch, flavour)
    return newest_per_series(archive.madison(f"linux-image-{flavour}", DEB_ARCHES[arch]))


def choose_kernel(archive: Archive, release: str, arch: str, flavour: str) -> KernelChoice:
    """The kernel of ``release`` for ``arch``/``flavour``, with its ABI name."""
    carried = releases(archive, arch, flavour)
    if release not in carried:
        def key(s: str) -> tuple[int, ...]:
            return tuple(int(x) for x in s.split("."))
        have = ", ".join(sorted(carried, key=key)) or "none"
        raise LabSetupError(f"release {release} is not in the archive for {arch} ({flavour}); "
                            f"it carries: {have}; run with one of those")
    row = carried[release]
    meta = archive.show(f"linux-image-{flavour}", DEB_ARCHES[arch], row.version)
    abi = abi_from_depends(parse_show_field(meta, "Depends"), flavour)
    return KernelChoice(release, arch, flavour, row.suite, row.version, abi)
