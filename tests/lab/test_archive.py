"""The private apt state: parsers on captured apt text, and the real state in the lab cache.

Captured text has its archive host replaced by ``archive.invalid``: the archive's
address is only ever read from the machine's apt sources.
"""

from __future__ import annotations

import itertools
import re
import subprocess

import pytest

from panicpath.lab.archive import (
    SUITES,
    Archive,
    LabSetupError,
    Listing,
    SourceEntry,
    abi_from_depends,
    choose_kernel,
    compare_versions,
    machine_sources,
    newest_per_series,
    parse_deb822_sources,
    parse_depends_field,
    parse_madison,
    parse_one_line_sources,
    parse_show_field,
    pick_archives,
    private_sources,
    series_of,
)

DEB822 = """\
Types: deb
# a comment
URIs: http://archive.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://archive.invalid/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://archive.invalid/debian
Suites: bookworm
Components: main

Types: deb
Enabled: no
URIs: http://other.invalid/debian
Suites: sid
Components: main
"""

ONE_LINE = """\
# deb http://commented.invalid/debian bookworm main
deb [arch=amd64 signed-by=/k.gpg] http://archive.invalid/debian bookworm main contrib
deb-src http://archive.invalid/debian bookworm main
deb http://vendor.invalid/apt cloud-sdk main
"""

MADISON = """\
linux-image-cloud-arm64:arm64 | 7.3.4-1~bpo13+1 | http://archive.invalid/debian trixie-backports/main arm64 Packages
linux-image-cloud-arm64:arm64 |   7.2.13-1 | http://archive.invalid/debian sid/main arm64 Packages
linux-image-cloud-arm64:arm64 | 6.12.118-1 | http://archive.invalid/debian-security trixie-security/main arm64 Packages
linux-image-cloud-arm64:arm64 | 6.12.117-1 | http://archive.invalid/debian trixie/main arm64 Packages
linux-image-cloud-arm64:arm64 |  6.1.176-1 | http://archive.invalid/debian bookworm/main arm64 Packages
linux-image-cloud-arm64:arm64 |  6.1.192-3 | http://archive.invalid/debian-security bookworm-security/main arm64 Packages
linux-image-cloud-arm64:arm64 | 6.9.7-1~bpo12+1 | http://archive.invalid/debian bookworm-backports/main arm64 Packages
linux-image-cloud-arm64:arm64 | 5.10.223-1 | http://archive.invalid/debian bullseye/main arm64 Packages
"""  # noqa: E501 (captured apt-cache madison, rows reordered; bookworm-backports added)

SHOW = """\
Package: linux-image-cloud-arm64
Source: linux-signed-arm64 (6.1.192+3)
Version: 6.1.192-3
Architecture: arm64
Provides: linux-latest-modules-6.1.0-57-cloud-arm64, wireguard-modules (= 1.0.0)
Depends: linux-image-6.1.0-57-cloud-arm64 (= 6.1.192-3)
Description: Linux for arm64 cloud (meta-package)

Package: linux-image-cloud-arm64
Version: 6.1.176-1
Depends: linux-image-6.1.0-41-cloud-arm64 (= 6.1.176-1)
"""


def test_deb822_keeps_enabled_binary_stanzas_only() -> None:
    entries = parse_deb822_sources(DEB822)
    assert entries == [
        SourceEntry(("http://archive.invalid/debian",), ("bookworm", "bookworm-updates"),
                    ("main",), "/usr/share/keyrings/debian-archive-keyring.gpg"),
        SourceEntry(("http://archive.invalid/debian-security",), ("bookworm-security",),
                    ("main",), "/usr/share/keyrings/debian-archive-keyring.gpg"),
    ]


def test_one_line_sources_options_and_comments() -> None:
    entries = parse_one_line_sources(ONE_LINE)
    assert entries == [
        SourceEntry(("http://archive.invalid/debian",), ("bookworm",), ("main", "contrib"),
                    "/k.gpg"),
        SourceEntry(("http://vendor.invalid/apt",), ("cloud-sdk",), ("main",), ""),
    ]


def test_pick_archives_takes_the_debian_archive_and_its_security_archive() -> None:
    vendor = parse_one_line_sources("deb http://vendor.invalid/apt cloud-sdk main\n")
    archive, security = pick_archives(vendor + parse_deb822_sources(DEB822))
    assert archive.uris == ("http://archive.invalid/debian",)
    assert security is not None and security.uris == ("http://archive.invalid/debian-security",)
    with pytest.raises(LabSetupError, match="no Debian archive"):
        pick_archives(vendor)
    lookalike = parse_one_line_sources("deb http://vendor.invalid/apt bookworm main\n")
    archive, _ = pick_archives(lookalike + parse_deb822_sources(DEB822))
    assert archive.uris == ("http://archive.invalid/debian",)     # the Debian-signed one
    assert pick_archives(lookalike)[0].uris == ("http://vendor.invalid/apt",)


def test_private_sources_name_every_suite_and_arch() -> None:
    archive, security = pick_archives(parse_deb822_sources(DEB822))
    text = private_sources(archive, security)
    stanzas = parse_deb822_sources(text)
    assert stanzas[0].suites == SUITES
    assert stanzas[0].uris == ("http://archive.invalid/debian",)
    assert stanzas[1].suites == ("bullseye-security", "bookworm-security", "trixie-security")
    assert stanzas[0].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert text.count("Architectures: amd64 arm64 ppc64el") == 2
    assert "security" not in private_sources(archive, None)


def test_debian_version_order() -> None:
    ordered = ["5.10.223-1", "6.1.176-1", "6.1.192-1", "6.1.192-3", "6.9.7-1", "6.12.117-1",
               "7.3.4-1~bpo13+1", "7.3.4-1", "7.3.4-1+b1", "1:0.1-1"]
    for a, b in itertools.pairwise(ordered):
        assert compare_versions(a, b) < 0 < compare_versions(b, a), (a, b)
    assert compare_versions("6.1.192-3", "6.1.192-3") == 0
    assert compare_versions("1.0~rc1", "1.0") < 0
    assert compare_versions("1.0a", "1.0+") < 0          # letters sort before non-letters


def test_series_and_newest_per_series() -> None:
    assert series_of("6.1.192-3") == "6.1"
    assert series_of("7.3.4-1~bpo13+1") == "7.3"
    assert series_of("1:6.12.118-1") == "6.12"
    rows = parse_madison(MADISON)
    assert rows[0] == Listing("linux-image-cloud-arm64", "7.3.4-1~bpo13+1", "trixie-backports",
                              "arm64")
    best = newest_per_series(rows)
    assert {s: (r.suite, r.version) for s, r in best.items()} == {
        "7.3": ("trixie-backports", "7.3.4-1~bpo13+1"),
        "7.2": ("sid", "7.2.13-1"),
        "6.12": ("trixie-security", "6.12.118-1"),
        "6.1": ("bookworm-security", "6.1.192-3"),   # newer than bookworm's, listed after it
        "5.10": ("bullseye", "5.10.223-1"),
    }                                                # bookworm-backports' 6.9 is not a suite


def test_show_fields_and_abi() -> None:
    depends = parse_show_field(SHOW, "Depends")
    assert depends == "linux-image-6.1.0-57-cloud-arm64 (= 6.1.192-3)"   # first stanza
    assert abi_from_depends(depends, "cloud-arm64") == "6.1.0-57-cloud-arm64"
    assert parse_show_field(SHOW, "Missing") == ""
    with pytest.raises(LabSetupError, match="no linux-image-"):
        abi_from_depends(depends, "arm64")           # the cloud ABI is not arm64's
    assert abi_from_depends("linux-image-7.3.4+deb13-powerpc64le (= 7.3.4-1~bpo13+1)",
                            "powerpc64le") == "7.3.4+deb13-powerpc64le"
    assert parse_depends_field("linux-base (>= 4.12~), linux-image-X (= 1) | linux-image-X-unsigned"
                               " (= 1), python3:any, gcc-14") == [
        "linux-base", "linux-image-X", "python3", "gcc-14"]


# --- the real private state -------------------------------------------------------------


@pytest.fixture(scope="module")
def archive() -> Archive:
    a = Archive()
    a.ensure()
    return a


def test_machine_sources_give_the_archive() -> None:
    archive, _ = pick_archives(machine_sources())
    assert archive.uris and archive.uris[0].startswith(("http://", "https://", "file:"))


def test_private_state_lists_foreign_arches_the_machine_does_not(archive: Archive) -> None:
    """The private state lists arm64 and ppc64el kernels; the machine's apt (left as it
    is) has no foreign architecture and lists none."""
    foreign = subprocess.run(["dpkg", "--print-foreign-architectures"], capture_output=True,
                             text=True, check=True).stdout.split()
    assert "arm64" not in foreign and "ppc64el" not in foreign
    machine = subprocess.run(["apt-cache", "madison", "linux-image-arm64:arm64"],
                             capture_output=True, text=True, check=False).stdout
    assert "arm64 Packages" not in machine
    rows = archive.madison("linux-image-powerpc64le", "ppc64el")
    assert {r.family for r in rows} >= {"bookworm", "trixie"}
    assert all(r.arch == "ppc64el" for r in rows)
    assert archive.sources_file.read_text().count("Suites:") >= 1
    dirs = [o.split("=", 1)[1] for o in archive.options() if o.startswith("Dir::Etc::")
            or o.startswith(("Dir::State=", "Dir::State::status=", "Dir::Cache="))]
    assert len(dirs) == 7 and all(d.startswith(str(archive.root)) for d in dirs)


def test_choose_kernel_per_release_and_arch(archive: Archive) -> None:
    k = choose_kernel(archive, "6.1", "arm64", "cloud-arm64")
    assert re.fullmatch(r"6\.1\.0-\d+-cloud-arm64", k.abi)
    assert k.suite in ("bookworm", "bookworm-security") and series_of(k.version) == "6.1"
    k = choose_kernel(archive, "6.12", "x86_64", "amd64")
    assert k.abi.startswith("6.12.") and k.abi.endswith("-amd64") and "cloud" not in k.abi
    assert k.suite.startswith("trixie") and k.deb_arch == "amd64"


def test_bad_release_arch_flavour_name_the_fix(archive: Archive) -> None:
    with pytest.raises(LabSetupError, match=r"release 4\.19 is not in the archive for arm64 "
                                            r"\(cloud-arm64\); it carries: 5\.10, 6\.1, 6\.12"):
        choose_kernel(archive, "4.19", "arm64", "cloud-arm64")
    with pytest.raises(LabSetupError, match="arch 'riscv64' is not known; valid: x86_64, arm64"):
        choose_kernel(archive, "6.1", "riscv64", "riscv64")
    with pytest.raises(LabSetupError, match="flavour 'cloud-amd64' does not exist for ppc64el; "
                                            "valid: powerpc64le"):
        choose_kernel(archive, "6.1", "ppc64el", "cloud-amd64")
