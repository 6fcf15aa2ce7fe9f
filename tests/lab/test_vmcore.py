"""The vmcore read back on real bytes: the headers and notes that a Debian 6.1 x86_64 crash
kernel sent from /proc/vmcore (tests/data/vmcore_x86_64_6.1_headers.bin, decoded from the
LABVMCORE lines of tests/data/vmcore_dma_active.log, a dma-active run)."""

from __future__ import annotations

import base64
import hashlib
import struct
from pathlib import Path

import pytest

from panicpath.lab.console import ConsoleParser, read_log
from panicpath.lab.events import VmcoreHeadersRead, VmcorePageRead
from panicpath.lab.vmcore import (
    PRSTATUS_REG_OFFSET,
    VmcoreError,
    decode_lines,
    parse_headers,
)

DATA = Path(__file__).resolve().parents[1] / "data"
HEADERS = DATA / "vmcore_x86_64_6.1_headers.bin"
RUN_LOG = DATA / "vmcore_dma_active.log"
DMA_PHYS = 0x3FF38000
"""The page the probe printed in that run (LABPANIC fault dma-active cpu=1 phys=...)."""
GUEST_OFFSET = 846237696
"""The file offset the guest's /init computed for it from the PT_LOAD headers."""


def raw() -> bytes:
    return HEADERS.read_bytes()


def prstatus_offsets(data: bytes) -> list[int]:
    """Offsets of the NT_PRSTATUS descriptors, found independently of the parser: walk
    the first PT_NOTE by hand (Elf64_Nhdr: namesz, descsz, type; name and desc 4-aligned)."""
    phoff, = struct.unpack_from("<Q", data, 32)
    phent, phnum = struct.unpack_from("<HH", data, 54)
    out = []
    for i in range(phnum):
        p = phoff + i * phent
        if struct.unpack_from("<I", data, p)[0] != 4:
            continue
        off, = struct.unpack_from("<Q", data, p + 8)
        size, = struct.unpack_from("<Q", data, p + 32)
        at = off
        while at + 12 <= off + size:
            namesz, descsz, kind = struct.unpack_from("<III", data, at)
            desc = at + 12 + (namesz + 3) // 4 * 4
            if kind == 1:
                out.append(desc)
            at = desc + (descsz + 3) // 4 * 4
    return out


def test_both_cpus_saved_their_registers() -> None:
    """x86_64 6.1 with 2 CPUs: the panic CPU (native_machine_crash_shutdown) and CPU 1
    (the crash NMI) each wrote an NT_PRSTATUS with registers."""
    h = parse_headers(raw())
    assert h.machine == "EM_X86_64"
    assert h.cpus_saved == 2
    assert [p.has_registers for p in h.prstatus] == [True, True]
    # x86_64 elf_gregset_t is struct user_regs_struct: 27 registers, rip is the 17th
    assert [len(p.registers) for p in h.prstatus] == [27, 27]
    assert all(p.registers[16] >= 0xFFFFFFFF80000000 for p in h.prstatus)  # kernel text
    # the sysrq shell on CPU 0 and the probe's dma-active kthread on CPU 1
    assert all(p.pid > 0 for p in h.prstatus) and len({p.pid for p in h.prstatus}) == 2


def test_vmcoreinfo_names_the_crashed_kernel() -> None:
    h = parse_headers(raw())
    assert h.info("OSRELEASE") == "6.1.0-57-cloud-amd64"
    assert h.info("PAGESIZE") == "4096"
    assert h.info("CRASHTIME") is not None and h.info("NOPE") is None


def test_page_offset_from_pt_load_matches_the_guests() -> None:
    """The host's reading of the PT_LOAD headers gives the offset /init computed with od."""
    h = parse_headers(raw())
    assert h.loads and all(ld.offset % 4096 == h.loads[0].offset % 4096 for ld in h.loads)
    assert h.page_offset(DMA_PHYS) == GUEST_OFFSET
    assert h.page_offset(1 << 60) is None


def test_a_cpu_whose_registers_are_zero_has_none() -> None:
    """The same bytes with CPU 1's pr_reg cleared: the note is there, its registers not."""
    data = bytearray(raw())
    second = prstatus_offsets(bytes(data))[1]
    start = second + PRSTATUS_REG_OFFSET
    data[start:start + 27 * 8] = bytes(27 * 8)
    h = parse_headers(bytes(data))
    assert h.cpus_saved == 2
    assert [p.has_registers for p in h.prstatus] == [True, False]


def test_a_cpu_without_a_note_is_not_counted() -> None:
    """A CPU that never ran crash_save_cpu() leaves its crash_notes buffer empty, and
    fs/proc/vmcore.c merge_note_headers_elf64() keeps only the notes before the empty
    one (update_note_header_size_elf64): the merged PT_NOTE has no note of it. The same
    bytes with CPU 1's note spliced out and the PT_NOTE's p_filesz shrunk to match."""
    data = raw()
    second = prstatus_offsets(data)[1]
    header = second - 12 - 8  # Elf64_Nhdr (12), then "CORE\0" padded to 8
    namesz, descsz, _ = struct.unpack_from("<III", data, header)
    length = 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    cut = bytearray(data[:header] + data[header + length:])
    phoff, = struct.unpack_from("<Q", cut, 32)
    phent, phnum = struct.unpack_from("<HH", cut, 54)
    for i in range(phnum):
        p = phoff + i * phent
        if struct.unpack_from("<I", cut, p)[0] == 4:
            size, = struct.unpack_from("<Q", cut, p + 32)
            struct.pack_into("<QQ", cut, p + 32, size - length, size - length)
    h = parse_headers(bytes(cut))
    assert h.cpus_saved == 1 and h.prstatus[0] == parse_headers(data).prstatus[0]
    assert h.info("OSRELEASE") == "6.1.0-57-cloud-amd64"


@pytest.mark.parametrize("cut", [0, 3, 64, 2000])
def test_truncated_or_foreign_bytes_are_refused(cut: int) -> None:
    with pytest.raises(VmcoreError):
        parse_headers(raw()[:cut])


def test_not_a_core_file_is_refused() -> None:
    data = bytearray(raw())
    data[16:18] = struct.pack("<H", 2)  # ET_EXEC
    with pytest.raises(VmcoreError, match="ET_CORE"):
        parse_headers(bytes(data))
    with pytest.raises(VmcoreError, match="little-endian ELF64"):
        parse_headers(b"\x7fELF\x01\x01" + bytes(64))


def test_base64_lines_decode_and_garbage_is_refused() -> None:
    b64 = base64.b64encode(raw()).decode()
    lines = [b64[i:i + 76] for i in range(0, len(b64), 76)]
    assert decode_lines(lines) == raw()
    with pytest.raises(VmcoreError):
        decode_lines(["!!!!"])


def test_the_console_lines_of_the_run_give_the_same_bytes_and_two_page_reads() -> None:
    events = read_log(RUN_LOG)
    heads = [e for e in events if isinstance(e, VmcoreHeadersRead)]
    assert len(heads) == 1 and heads[0].error == "" and heads[0].boot == 1
    assert heads[0].data == raw()
    pages = [e for e in events if isinstance(e, VmcorePageRead)]
    assert [(p.phys, p.offset, p.read) for p in pages] == [
        (DMA_PHYS, GUEST_OFFSET, 1), (DMA_PHYS, GUEST_OFFSET, 2)]
    assert pages[0].digest == pages[1].digest
    # the kthread had written it (an untouched page would be all zero), and CPU 1's
    # registers show it interrupted in the probe's loop (module space, not kernel text)
    assert pages[0].digest != hashlib.md5(bytes(4096)).hexdigest()
    assert parse_headers(raw()).prstatus[1].registers[16] >= 0xFFFFFFFFC0000000


def test_a_line_cut_by_other_output_is_reported_not_trusted() -> None:
    lines = [line.partition("] ")[2].rstrip("\n")
             for line in RUN_LOG.read_text().splitlines() if "LABVMCORE" in line]
    assert lines[0].startswith("LABVMCORE begin") and lines[-1].startswith("LABVMCORE end")
    broken = list(lines)
    broken[5] = broken[5][:40] + "[    3.1] random: crng init done"
    parser = ConsoleParser()
    got = [e for line in broken for e in parser.feed(line) if isinstance(e, VmcoreHeadersRead)]
    assert len(got) == 1 and got[0].error
    swapped = list(lines)
    swapped[5], swapped[6] = swapped[6], swapped[5]  # decodes, wrong bytes: md5 says so
    parser = ConsoleParser()
    got = [e for line in swapped for e in parser.feed(line) if isinstance(e, VmcoreHeadersRead)]
    assert len(got) == 1 and "md5" in got[0].error


ARM64_DEAF = DATA / "vmcore_arm64_6.1_deaf_headers.bin"
"""The headers and notes from a real arm64 run (Debian 6.1.0-57-cloud-arm64, QEMU virt,
TCG, 2 CPUs, crash_kexec_post_notifiers, faults ipi-deaf-cpu and dma-active on CPU 1),
taken with the crash kernel's console pointed at ttyAMA0 (the shipped /init's kexec line
said ttyS0 at the time). The first kernel printed "SMP: failed to stop secondary CPUs
1": arm64's crash_smp_send_stop() sends IPI_CPU_CRASH_STOP, an ordinary IPI that CPU 1,
spinning with interrupts off, never took (arch/arm64/kernel/smp.c, 6.1)."""


def test_arm64_vmcore_lacks_the_deaf_cpus_registers() -> None:
    h = parse_headers(ARM64_DEAF.read_bytes())
    assert h.machine == "EM_AARCH64" and h.info("OSRELEASE") == "6.1.0-57-cloud-arm64"
    # only the panic CPU's note: CPU 1 never ran crash_save_cpu()
    assert h.cpus_saved == 1 and h.prstatus[0].has_registers
    assert len(h.prstatus[0].registers) == 34  # arm64 user_pt_regs: x0-x30, sp, pc, pstate


def test_arm64_vmcore_has_a_pt_load_of_impossible_size() -> None:
    """kexec-tools' elfcorehdr for this guest starts with a PT_LOAD of p_vaddr -1 and a size
    near 2^64; /proc/vmcore adds the sizes into the offsets of the later segments
    (fs/proc/vmcore.c), so the RAM after it lies past 2^63 and cannot be read: the guest
    reports the page not-found rather than reading nothing."""
    h = parse_headers(ARM64_DEAF.read_bytes())
    assert h.loads[0].size > 1 << 63
    ram = next(ld for ld in h.loads if ld.paddr == 0x40000000)
    assert ram.offset > 1 << 63 and h.page_offset(0x49D83000) == ram.offset + 0x9D83000
    line = "LABINFO vmcore page phys=0x49d83000 not-found offset=-78101251665920"
    (page,) = ConsoleParser().feed(line)
    assert isinstance(page, VmcorePageRead) and page.offset is None


def test_a_page_read_through_dev_mem_counts_as_read() -> None:
    """Where /proc/vmcore cannot reach the page, /init reads it through /dev/mem
    (templates/init.sh): those reads compare like the others, and one read alone, or a
    not-found page, says nothing."""
    from panicpath.lab.observation import page_changed

    lines = ["LABINFO vmcore page phys=0x49daf000 devmem read=1 md5=" + "a" * 32,
             "LABINFO vmcore page phys=0x49daf000 devmem read=2 md5=" + "b" * 32]
    first, second = (ConsoleParser().feed(line)[0] for line in lines)
    assert isinstance(first, VmcorePageRead) and first.via == "devmem" and first.offset is None
    assert page_changed([first, second]) is True
    assert page_changed([first]) is None
    same = ConsoleParser().feed(lines[1].replace("read=2", "read=1"))[0]
    assert page_changed([same, second]) is False
    (lost,) = ConsoleParser().feed("LABINFO vmcore page phys=0x49d83000 not-found offset=-1")
    assert page_changed([lost, second]) is None
