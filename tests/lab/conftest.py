"""Shared fixtures of the lab tests: QEMU must be there (no silent skip)."""

from __future__ import annotations

import shutil

import pytest

from panicpath.lab.kernels import KernelFiles, ensure_kernel
from panicpath.lab.reservation import CaptureNeeds

INSTALL = "bash scripts/install-deps.sh (apt-get install qemu-system-x86 busybox-static " \
          "kexec-tools gcc-12 make)"


@pytest.fixture(scope="session")
def lab_kernel() -> KernelFiles:
    """The cloud kernel, downloaded once into the cache; fails when QEMU is missing."""
    for tool in ("qemu-system-x86_64", "kexec", "busybox", "make"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} not found; the lab tests need it: run {INSTALL}")
    return ensure_kernel("cloud-amd64")


@pytest.fixture(scope="session")
def capture_needs(lab_kernel: KernelFiles) -> CaptureNeeds:
    """What the x86_64 6.1 cloud kernel's crash kernel needs of its reservation, measured
    once per cache with real cycles (lab/reservation.py; ~3 min on a fresh cache)."""
    from panicpath.lab.runner import measure_capture_needs
    from panicpath.lab.scenario import LabScenario

    return measure_capture_needs(LabScenario(name="needs"))
