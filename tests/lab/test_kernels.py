"""Parsing apt-cache output for the kernel ABI name."""

from __future__ import annotations

from panicpath.lab.kernels import parse_depends

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
