"""Architectures by their fixed names."""

from __future__ import annotations

from panicpath.arch.arm64 import Arm64
from panicpath.arch.base import Arch
from panicpath.arch.mips_octeon import MipsOcteon
from panicpath.arch.powerpc import PowerPC
from panicpath.arch.s390 import S390
from panicpath.arch.x86_64 import X86_64

ARCHES: dict[str, Arch] = {
    a.name: a for a in (X86_64(), Arm64(), PowerPC(), MipsOcteon(), S390())
}

__all__ = ["ARCHES", "Arch"]
