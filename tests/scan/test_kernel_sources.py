"""scan/kernel_sources.py without the network: which upload, the cache, the offline fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.lab.archive import Archive, LabSetupError, Listing
from panicpath.scan import kernel_sources
from panicpath.scan.kernel_sources import STAMP, SourceError, ensure_source, newest_version


class FakeArchive(Archive):
    def __init__(self, rows: list[Listing] | None) -> None:
        super().__init__(Path("/nonexistent"))
        self.rows = rows
        self.downloads: list[list[str]] = []

    def madison(self, package: str, deb_arch: str) -> list[Listing]:
        if self.rows is None:
            raise LabSetupError("apt-get not found; run: apt-get install apt")
        return [r for r in self.rows if r.package == package]

    def download(self, specs: list[str], dest: Path) -> None:
        self.downloads.append(specs)
        raise LabSetupError("no network")


ROWS = [Listing("linux-source-6.1", "6.1.176-1", "bookworm", "amd64"),
        Listing("linux-source-6.1", "6.1.192-3", "bookworm-security", "amd64"),
        Listing("linux-source-6.1", "6.1.180-1~deb11u1", "bullseye-security", "amd64"),
        Listing("linux-source-6.1", "6.1.999-1", "some-vendor", "amd64")]


def test_newest_upload_in_the_listed_suites() -> None:
    assert newest_version(FakeArchive(ROWS), "6.1") == "6.1.192-3"
    with pytest.raises(SourceError, match="not in the archive"):
        newest_version(FakeArchive(ROWS), "6.2")


def _cached(root: Path, name: str) -> Path:
    d = root / "sources" / name
    (d / "kernel").mkdir(parents=True)
    (d / STAMP).write_text(name + "\n")
    return d


def test_cache_hit_and_offline_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANICPATH_CACHE", str(tmp_path))
    hit = _cached(tmp_path, "linux-source-6.1_6.1.192-3")
    older = _cached(tmp_path, "linux-source-6.1_6.1.99-1")
    archive = FakeArchive(ROWS)
    assert ensure_source("6.1", archive) == hit and archive.downloads == []
    # offline: the newest cached version, in Debian's order (6.1.192 > 6.1.99)
    assert ensure_source("6.1", FakeArchive(None)) == hit
    (hit / STAMP).unlink()
    assert ensure_source("6.1", FakeArchive(None)) == older
    with pytest.raises(SourceError, match=r"linux-source-6\.12"):
        ensure_source("6.12", FakeArchive(None))
    # not cached: downloaded (here: refused, one line, nothing left behind)
    with pytest.raises(LabSetupError, match="no network"):
        ensure_source("6.1", archive)
    assert archive.downloads == [["linux-source-6.1=6.1.192-3"]]
    assert sorted(p.name for p in (tmp_path / "sources").iterdir()) == [
        "linux-source-6.1.lock", "linux-source-6.1_6.1.192-3", "linux-source-6.1_6.1.99-1"]


@pytest.mark.parametrize("series", ["6", "six", "6.1.2", "../6.1", ""])
def test_not_a_series(series: str) -> None:
    with pytest.raises(SourceError, match="not a kernel series"):
        ensure_source(series, FakeArchive(ROWS))


def test_members_cover_what_the_derivation_reads() -> None:
    from panicpath.scan import panic_policy

    members = " ".join(kernel_sources.MEMBERS)
    for rel in (panic_policy.PANIC_C, panic_policy.SYS_INFO_C, *panic_policy.CRASH_KEXEC_C,
                "kernel/printk/", "arch/*/kernel/crash.c", "drivers/tty/serial/8250/8250_core.c",
                "arch/mips/cavium-octeon/setup.c"):
        assert rel in members, rel
