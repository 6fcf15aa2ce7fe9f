"""The vmcore read back: the crash kernel's /proc/vmcore headers and notes, parsed.

The crash kernel's ``/init`` (templates/init.sh ``vmcore_headers``) sends everything of
/proc/vmcore that comes before the memory: the ELF header, the program headers and the
PT_NOTE data, base64 between ``LABVMCORE begin bytes=N`` and ``LABVMCORE end`` lines
(panicpath.lab.console turns them back into bytes). This module parses those bytes
with pyelftools; it is pure (bytes in, facts out), so tests run it on captured bytes.

What the kernel puts there (Linux 6.1):

- fs/proc/vmcore.c parse_crash_elf64_headers() / merge_note_headers_elf64(): the first
  kernel's elfcorehdr (built by kexec-tools when ``kexec -p`` loaded the crash image)
  with its PT_NOTE segments merged into one, ahead of the memory; a note whose
  ``n_namesz`` is 0 ends a segment's notes (update_note_header_size_elf64()), so a CPU
  whose per-CPU ``crash_notes`` buffer was never written contributes nothing.
- kernel/kexec_core.c crash_save_cpu(): the ``NT_PRSTATUS`` note of one CPU, written by
  the CPU itself (its ``pr_pid`` is the task it was running, ``pr_reg`` its registers
  from the pt_regs of the crash) and closed by final_note(). On x86_64 6.1 the panic CPU
  writes its own in native_machine_crash_shutdown() (arch/x86/kernel/crash.c) and every
  other CPU writes its own from the NMI of crash_smp_send_stop() ->
  kdump_nmi_shootdown_cpus() -> crash_nmi_callback(); a CPU that never ran it has no
  note in the vmcore: its registers are lost (the model's ``vmcore-complete``).
- kernel/crash_core.c crash_save_vmcoreinfo(): the ``VMCOREINFO`` note (``KEY=VALUE``
  lines: OSRELEASE, PAGESIZE, CRASHTIME, symbols).

``struct elf_prstatus`` (include/linux/elfcore.h, 6.1: ``struct elf_prstatus_common``
then ``elf_gregset_t pr_reg`` and ``int pr_fpvalid``) is laid out the same on every
64-bit arch the lab runs: ``pr_pid`` at byte 32, ``pr_reg`` at byte 112, one 8-byte
register each (x86_64 27, arm64 34, ppc64 48 per its ELF_NGREG), then ``pr_fpvalid``.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from elftools.common.exceptions import ELFError
from elftools.construct.core import ConstructError
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import NoteSegment

PRSTATUS_PID_OFFSET = 32
"""Byte offset of pr_pid in struct elf_prstatus (64-bit: elf_siginfo 12, pr_cursig 2 +
2 padding, pr_sigpend 8, pr_sighold 8; include/linux/elfcore.h, 6.1)."""
PRSTATUS_REG_OFFSET = 112
"""Byte offset of pr_reg: the common part ends with four struct __kernel_old_timeval
(16 bytes each) after the four pids (include/linux/elfcore.h, 6.1)."""
PRSTATUS_TAIL = 4
"""pr_fpvalid (an int) after pr_reg; the struct is then padded to 8 bytes."""
NT_PRSTATUS = 1
"""include/uapi/linux/elf.h; pyelftools names it 'NT_PRSTATUS' in a core file."""


class VmcoreError(ValueError):
    """Bytes that are not the headers of an ELF64 core file as /proc/vmcore gives them."""


@dataclass(frozen=True)
class PrStatus:
    """One NT_PRSTATUS note: the task the CPU ran (``pid``; 0 is that CPU's idle task)
    and its saved general registers, in the arch's elf_gregset_t order."""

    pid: int
    registers: tuple[int, ...]

    @property
    def has_registers(self) -> bool:
        """Whether the register set is not all zero (a CPU that saved its registers)."""
        return any(self.registers)


@dataclass(frozen=True)
class Load:
    """One PT_LOAD program header: old-kernel physical memory at a file offset."""

    paddr: int
    offset: int
    size: int


@dataclass(frozen=True)
class VmcoreHeaders:
    """What the headers and notes of a vmcore say."""

    machine: str
    """e_machine as pyelftools names it (EM_X86_64, EM_AARCH64, EM_PPC64)."""
    prstatus: tuple[PrStatus, ...]
    """The NT_PRSTATUS notes in file order (kexec-tools lists the CPUs' crash_notes in
    CPU order; CPUs without a note leave no gap, so the position is not the CPU id)."""
    vmcoreinfo: tuple[tuple[str, str], ...]
    loads: tuple[Load, ...]

    @property
    def cpus_saved(self) -> int:
        """How many CPUs' registers the vmcore holds (NT_PRSTATUS notes)."""
        return len(self.prstatus)

    def info(self, key: str) -> str | None:
        """One VMCOREINFO value (e.g. OSRELEASE, PAGESIZE, CRASHTIME), or None."""
        return dict(self.vmcoreinfo).get(key)

    def page_offset(self, phys: int) -> int | None:
        """File offset of physical address ``phys`` in the vmcore (the PT_LOAD holding
        it: p_offset + phys - p_paddr, fs/proc/vmcore.c), or None outside every one."""
        for ld in self.loads:
            if ld.paddr <= phys < ld.paddr + ld.size:
                return ld.offset + phys - ld.paddr
        return None


def _prstatus(desc: bytes) -> PrStatus:
    if len(desc) < PRSTATUS_REG_OFFSET + PRSTATUS_TAIL:
        raise VmcoreError(f"NT_PRSTATUS note of {len(desc)} bytes is shorter than "
                          "struct elf_prstatus")
    (pid,) = struct.unpack_from("<i", desc, PRSTATUS_PID_OFFSET)
    count = (len(desc) - PRSTATUS_REG_OFFSET - PRSTATUS_TAIL) // 8
    regs = struct.unpack_from(f"<{count}Q", desc, PRSTATUS_REG_OFFSET)
    return PrStatus(pid, tuple(regs))


def _vmcoreinfo(desc: bytes) -> tuple[tuple[str, str], ...]:
    text = desc.split(b"\0", 1)[0].decode("ascii", "replace")
    pairs = (line.partition("=") for line in text.splitlines() if "=" in line)
    return tuple((k, v) for k, _, v in pairs)


def parse_headers(data: bytes) -> VmcoreHeaders:
    """Parse the first bytes of a /proc/vmcore (headers and notes; the memory may be
    absent). Raises VmcoreError on anything that is not a little-endian ELF64 core."""
    if data[:4] != b"\x7fELF":
        raise VmcoreError("no ELF magic")
    if data[4:6] != b"\x02\x01":
        raise VmcoreError("not a little-endian ELF64 file (every lab arch's vmcore is)")
    try:
        elf = ELFFile(io.BytesIO(data))
        if elf["e_type"] != "ET_CORE":
            raise VmcoreError(f"e_type is {elf['e_type']}, not ET_CORE")
        notes: list[PrStatus] = []
        info: tuple[tuple[str, str], ...] = ()
        loads: list[Load] = []
        for seg in elf.iter_segments():
            kind = seg["p_type"]
            if kind == "PT_LOAD":
                loads.append(Load(seg["p_paddr"], seg["p_offset"], seg["p_filesz"]))
            elif kind == "PT_NOTE" and isinstance(seg, NoteSegment):
                if seg["p_offset"] + seg["p_filesz"] > len(data):
                    raise VmcoreError(f"PT_NOTE ends at {seg['p_offset'] + seg['p_filesz']}, "
                                      f"past the {len(data)} bytes read")
                for note in seg.iter_notes():
                    desc = bytes(note["n_descdata"])
                    if note["n_type"] in ("NT_PRSTATUS", NT_PRSTATUS) and (
                            note["n_name"] == "CORE"):
                        notes.append(_prstatus(desc))
                    elif note["n_name"] == "VMCOREINFO":
                        info = _vmcoreinfo(desc)
        return VmcoreHeaders(str(elf["e_machine"]), tuple(notes), info, tuple(loads))
    except (ELFError, ConstructError, struct.error) as e:
        raise VmcoreError(f"malformed ELF: {e}") from None


def decode_lines(lines: Iterable[str]) -> bytes:
    """The bytes of the base64 lines between ``LABVMCORE begin`` and ``end`` (without
    their ``LABVMCORE`` prefix). Raises VmcoreError on a line that is not base64."""
    try:
        return base64.b64decode("".join(line.strip() for line in lines), validate=True)
    except (binascii.Error, ValueError) as e:
        raise VmcoreError(f"not base64: {e}") from None
