"""panicpath.lab.hosttools: newer suites' kernel build tools, run on this host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from panicpath.lab.hosttools import ensure_host_tools, foreign_programs, glibc_needed, host_glibc
from panicpath.lab.kernels import ensure_kernel


def test_glibc_needed_reads_the_version_needs() -> None:
    """A host program needs a glibc the host has; a script is no program."""
    need = glibc_needed(Path(sys.executable).resolve())
    assert need is not None and (2, 2) <= need <= host_glibc()
    assert glibc_needed(Path(__file__)) is None


def test_host_glibc_is_bookworms_or_newer() -> None:
    assert host_glibc() >= (2, 36)


@pytest.mark.qemu
def test_trixie_kbuild_tools_run_after_patching(tmp_path: Path) -> None:
    """6.12's modpost needs GLIBC_2.38 (trixie): as shipped, bookworm's loader refuses it;
    patched to trixie's libc from the lab's private archive state, it runs."""
    kernel = ensure_kernel("cloud-amd64", release="6.12")
    patched = ensure_host_tools(kernel)
    assert {p.name for p in patched} >= {"modpost.real-lsb-64", "objtool.real-x86"}
    assert all((glibc_needed(p) or ()) > host_glibc() for p in patched)
    assert set(foreign_programs(kernel)) == set(patched)
    deb = next((kernel.root.parent / "debs").glob("linux-kbuild-*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    original = next(tmp_path.rglob("modpost.real-lsb-64"))
    shipped = subprocess.run([str(original), "-h"], capture_output=True, text=True,
                             check=False)
    assert "GLIBC_2.38' not found" in shipped.stderr
    modpost = next(p for p in patched if p.name == "modpost.real-lsb-64")
    ours = subprocess.run([str(modpost), "-h"], capture_output=True, text=True, check=False)
    assert "GLIBC" not in ours.stderr and "not found" not in ours.stderr
