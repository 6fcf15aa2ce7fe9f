"""Kernel supply: apt-cache parsing, and real kernels per release, arch and flavour
from the private apt state (downloaded once into the lab cache)."""

from __future__ import annotations

import json
import re
import struct
from dataclasses import asdict
from pathlib import Path

import pytest

from panicpath.lab.archive import Archive, KernelChoice, choose_kernel
from panicpath.lab.kernels import (
    KernelFiles,
    LabSetupError,
    _upload_member,
    cache_dir,
    carried_kernels,
    ensure_kernel,
    kernel_packages,
    parse_depends,
)

OUT = """linux-image-6.1.0-56-cloud-amd64
  Depends: kmod
  Depends: linux-base
 |Depends: initramfs-tools
  Depends: <linux-initramfs-tool>
    dracut
  Conflicts: linux-image-6.1.0-56-cloud-amd64-unsigned
  Recommends: firmware-linux-free
"""


def test_parse_depends_keeps_real_packages_only() -> None:
    assert parse_depends(OUT) == ["kmod", "linux-base", "initramfs-tools"]


def test_parse_depends_of_metapackage() -> None:
    assert parse_depends("linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n") == [
        "linux-image-6.1.0-56-amd64"]


# --- kernels per release, arch and flavour, from the private apt state (real downloads) ---





def _elf_machine(path: Path) -> int:
    head = path.open("rb").read(20)
    assert head[:4] == b"\x7fELF", path
    return int(struct.unpack_from("<H", head, 18)[0])


def test_upload_members_of_an_abi() -> None:
    c = KernelChoice("7.3", "ppc64el", "powerpc64le", "trixie-backports", "7.3.4-1~bpo13+1",
                     "7.3.4+deb13-powerpc64le")
    assert _upload_member("linux-binary-7.3.4+deb13-powerpc64le", c) == "guest"
    assert _upload_member("linux-headers-7.3.4+deb13-common", c) == "guest"
    assert _upload_member("linux-kbuild-7.3.4+deb13", c) == "host"
    for other in ("linux-base", "gcc-14-for-host", "linux-headers-7.2.13+deb14-common",
                  "initramfs-tools"):
        assert _upload_member(other, c) is None
    c61 = KernelChoice("6.1", "arm64", "cloud-arm64", "bookworm-security", "6.1.192-3",
                       "6.1.0-57-cloud-arm64")
    assert _upload_member("linux-headers-6.1.0-57-common", c61) == "guest"
    assert _upload_member("linux-headers-6.1.0-41-common", c61) is None


def test_kernel_packages_follow_the_split_7x_image_and_the_host_kbuild() -> None:
    archive = Archive()
    newest = max((k for k in carried_kernels(archive=archive) if k.arch == "arm64"
                  and k.flavour == "cloud-arm64"),
                 key=lambda k: tuple(int(x) for x in k.release.split(".")))
    specs = kernel_packages(archive, choose_kernel(archive, newest.release, "arm64",
                                                   "cloud-arm64"))
    names = {s.split(":")[0]: s.split(":")[1] for s in specs}
    assert names[f"linux-image-{newest.abi}"] == f"arm64/{newest.suite}"
    assert names[f"linux-headers-{newest.abi}"] == f"arm64/{newest.suite}"
    kbuild = [n for n in names if n.startswith("linux-kbuild-")]
    common = [n for n in names if n.endswith("-common")]
    assert len(kbuild) == 1 and names[kbuild[0]].startswith("amd64/")     # runs on the host
    assert len(common) == 1 and names[common[0]].startswith("all/")
    if int(newest.release.split(".")[0]) >= 7:                           # image split in 7.x
        assert f"linux-modules-{newest.abi}" in names


def test_carried_kernels_cover_every_arch() -> None:
    table = carried_kernels()
    pairs = {(k.release, k.arch) for k in table}
    for release in ("5.10", "6.1", "6.12"):
        assert (release, "x86_64") in pairs and (release, "arm64") in pairs
    assert ("6.1", "ppc64el") in pairs
    for arch in ("x86_64", "arm64", "ppc64el"):
        assert any(k.release.startswith("7.") and k.arch == arch for k in table), arch
    x86 = next(k for k in table if (k.release, k.arch, k.flavour) == ("6.1", "x86_64",
                                                                      "cloud-amd64"))
    assert x86.cached == (cache_dir() / "kernels" / x86.abi / ".complete").exists()
    assert json.loads(json.dumps([asdict(k) for k in table]))[0]["release"] == "5.10"


def test_ensure_kernel_arm64_and_ppc64el_6_1() -> None:
    arm = ensure_kernel("cloud-arm64", release="6.1", arch="arm64")
    assert re.fullmatch(r"6\.1\.0-\d+-cloud-arm64", arm.release) and arm.series == "6.1"
    # arch/arm64/include/asm/image.h: the Image header's magic "ARM\x64" at offset 56
    assert arm.vmlinuz.read_bytes()[56:60] == b"ARM\x64"
    assert (arm.modules / "fs/pstore/ramoops.ko").exists()
    assert (arm.build / "Makefile").read_text().count(str(arm.root)) >= 1   # relocated
    assert _elf_machine(arm.build / "scripts/basic/fixdep") == 62          # host kbuild
    meta = json.loads((arm.root.parent / "kernel.json").read_text())
    assert meta["arch"] == "arm64" and meta["abi"] == arm.release
    ppc = ensure_kernel("powerpc64le", release="6.1", arch="ppc64el")
    assert ppc.vmlinuz.name.startswith("vmlinux-") and _elf_machine(ppc.vmlinuz) == 21
    assert "CONFIG_PPC_PSERIES=y" in ppc.config.read_text()


def test_ensure_kernel_default_is_the_x86_64_6_1_cloud_kernel() -> None:
    k = ensure_kernel("cloud-amd64")
    assert re.fullmatch(r"6\.1\.0-\d+-cloud-amd64", k.release) and k.arch == "x86_64"
    assert k.vmlinuz.name == f"vmlinuz-{k.release}" and k.vmlinuz.exists()


def test_ensure_kernel_bad_input_is_one_line() -> None:
    cases = [({"flavour": "cloud-arm64", "arch": "s390x"}, "arch 's390x' is not known"),
             ({"flavour": "amd64", "arch": "arm64"}, "flavour 'amd64' does not exist for arm64"),
             ({"flavour": "cloud-amd64", "release": "3.16"}, "release 3.16 is not in the archive")]
    for kw, msg in cases:
        with pytest.raises(LabSetupError, match=msg) as e:
            ensure_kernel(**kw)  # type: ignore[arg-type]
        assert "\n" not in str(e.value) and re.search(r"; (valid: |it carries: )", str(e.value))


def test_image_files_in_boot_or_in_the_7x_modules_directory(tmp_path: Path) -> None:
    old = KernelFiles("powerpc64le", "6.1.0-57-powerpc64le", tmp_path / "a", "ppc64el", "6.1")
    (old.root / "boot").mkdir(parents=True)
    (old.root / "boot/vmlinux-6.1.0-57-powerpc64le").touch()
    (old.root / "lib/modules/6.1.0-57-powerpc64le/kernel").mkdir(parents=True)
    assert old.vmlinuz == old.root / "boot/vmlinux-6.1.0-57-powerpc64le"
    assert old.modules == old.root / "lib/modules/6.1.0-57-powerpc64le/kernel"
    new = KernelFiles("powerpc64le", "7.2.13+deb14-powerpc64le", tmp_path / "b", "ppc64el", "7.2")
    mods = new.root / "usr/lib/modules/7.2.13+deb14-powerpc64le"
    (mods / "kernel").mkdir(parents=True)
    (mods / "vmlinuz").touch()
    (mods / "config").touch()
    assert (new.vmlinuz, new.config, new.modules) == (mods / "vmlinuz", mods / "config",
                                                      mods / "kernel")
    empty = KernelFiles("cloud-arm64", "6.1.0-57-cloud-arm64", tmp_path / "c", "arm64")
    assert empty.vmlinuz == empty.root / "boot/vmlinuz-6.1.0-57-cloud-arm64"   # for errors
