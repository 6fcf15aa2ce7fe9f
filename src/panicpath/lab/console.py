"""Streaming parser: serial-console lines in, typed lab events out.

The parser is fed one line at a time, as the harness reads them from QEMU, and
keeps only the state it needs (which kernel is talking, whether that kernel has
panicked, which panic_print sections were already seen). The same parser reads
the lab's log files, whose lines are ``[HOST_SECONDS] TEXT`` for console lines
and ``[HOST_SECONDS] QMP NAME {json}`` for QMP events (``read_log``).

What is recognised, and where the kernel prints it (Linux 6.1):

- ``Linux version`` banner: init/main.c start_kernel() via linux_banner;
  a second banner is the crash kernel (boot index 1).
- ``Kernel panic - not syncing:`` and ``---[ end Kernel panic``:
  kernel/panic.c panic().
- ``Shutting down cpus with NMI``: arch/x86/kernel/smp.c native_stop_other_cpus(),
  when the REBOOT_VECTOR IPI did not stop every CPU within 1 s.
- ``Kernel Offset:``: arch/x86/kernel/setup.c dump_kernel_offset(), a panic
  notifier of priority 0 registered by register_kernel_offset_dumper().
- panic_print sections: kernel/panic.c panic_print_sys_info() calling
  show_state() (``task:``), show_mem() (``Mem-Info:``),
  sysrq_timer_list_show() (``Timer List Version:``), debug_show_all_locks()
  (``Showing all locks held``), ftrace_dump() (``Dumping ftrace buffer``).
- ``LABPANIC ...``: markers printed by the probe module (panicpath.lab.probe),
  ``LABPANIC fault NAME key=value ...`` for each fault it put in place.
- ``LABMARK`` / ``LABINFO`` / ``LABPSTORE``: lines written by the lab's /init.
- ``LABVMCORE begin bytes=N`` ... ``LABVMCORE end md5=HEX``: the crash kernel's
  /proc/vmcore headers and notes in base64 (templates/init.sh vmcore_headers), one
  ``VmcoreHeadersRead`` event at the end line; ``LABINFO vmcore page ...``: one read
  of the dma-active page (``VmcorePageRead``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from panicpath.lab.events import (
    CrashKernelLoaded,
    Event,
    FaultArmed,
    KernelBooted,
    KernelOffsetPrinted,
    KmsgDumped,
    LabMark,
    NoProgress,
    PanicEnded,
    PanicPrintOutput,
    PanicStarted,
    ProbeNotifierRan,
    ProbeResult,
    PstoreLine,
    PstoreRecord,
    QmpEvent,
    Source,
    StopFailed,
    StopNmiSent,
    VmcoreHeadersRead,
    VmcorePageRead,
    VmcoreSeen,
)
from panicpath.lab.qmp import qmp_event
from panicpath.lab.vmcore import VmcoreError, decode_lines

_PRINTK_TIME = re.compile(r"^\[\s*\d+\.\d+\]\s?")
_PRINTK_LEVEL = re.compile(r"^<\d+>")
_LOG_LINE = re.compile(r"^\[\s*(?P<t>-?\d+\.\d+)\] ?(?P<text>.*)$")
_QMP_LINE = re.compile(r"^QMP (?P<name>[A-Z_]+) ?(?P<data>.*)$")
_NO_PROGRESS = re.compile(r"^# NO-PROGRESS in phase (?P<phase>[a-z-]+) for (?P<s>[\d.]+) s")

_BANNER = re.compile(r"^Linux version (?P<release>\S+)")
_PANIC = re.compile(r"^Kernel panic - not syncing: (?P<msg>.*)$")
_END = re.compile(r"^---\[ end Kernel panic - not syncing: (?P<msg>.*?) \]---")
_OFFSET = re.compile(r"^Kernel Offset: (?P<text>.*)$")
_STOP_NMI = "Shutting down cpus with NMI"
_STOP_FAILED = "SMP: failed to stop secondary CPUs"
_NOTIFIER = re.compile(
    r"^LABPANIC notifier (?P<name>\S+) prio=(?P<prio>-?\d+) cpu=(?P<cpu>\d+)"
    r" kexec_crash_loaded=(?P<kcl>[01])"
)
_RESULT = re.compile(r"^LABPANIC notifier (?P<name>\S+) result=(?P<result>\S+)")
_KMSG = re.compile(
    r"^LABPANIC kmsg_dump (?:(?P<name>[^\s=]+) )?reason=(?P<code>\d+) \((?P<reason>[^)]*)\)"
)
_FAULT = re.compile(r"^LABPANIC fault (?P<fault>[a-z][a-z-]*)(?P<detail>(?: \S+)*)\s*$")
_MARK = re.compile(r"^LABMARK (?P<name>[A-Z][A-Z0-9-]*)")
_KEXEC = re.compile(r"^LABINFO kexec -p rc=(?P<rc>-?\d+).*kexec_crash_loaded=(?P<kcl>[01])")
_VMCORE = re.compile(r"^LABINFO vmcore_size=(?P<size>\d+)")
_PSTORE_FILE = re.compile(r"^LABINFO pstore file (?P<file>\S+) size=(?P<size>\d+)")
_PSTORE_LINE = re.compile(r"^LABPSTORE (?P<text>.*)$")
_VMCORE_BEGIN = re.compile(r"^LABVMCORE begin bytes=(?P<n>\d+)")
_VMCORE_END = re.compile(r"^LABVMCORE end(?: md5=(?P<md5>[0-9a-f]{32}))?")
_KERNEL_AFTER = re.compile(r"\[\s*\d+\.\d+\] ")
"""A printk prefix after a LABVMCORE line's base64 (which has no '['): a kernel line."""
_VMCORE_DATA = re.compile(r"^LABVMCORE (?P<b64>[A-Za-z0-9+/=]+)\s*$")
_VMCORE_PAGE = re.compile(
    r"^LABINFO vmcore page phys=(?P<phys>0x[0-9a-fA-F]+)"
    r"(?: (?:offset=(?P<off>\d+)|(?P<via>devmem)) read=(?P<read>\d+) md5=(?P<md5>[0-9a-f]{32})"
    r"| not-found\b)"
)

#: panic_print section headers (kernel/panic.c panic_print_sys_info(), 6.1).
PANIC_PRINT_HEADERS: tuple[tuple[str, str], ...] = (
    ("task:", "tasks"),
    ("Mem-Info:", "mem"),
    ("Timer List Version:", "timers"),
    ("Showing all locks held", "locks"),
    ("Dumping ftrace buffer", "ftrace"),
)

#: Name given to a probe kmsg dumper whose marker carries no name (older probe).
UNNAMED_DUMPER = "dumper"


def strip_printk_prefix(text: str) -> str:
    """Remove a ``<level>`` and a ``[ seconds]`` printk prefix, if present."""
    return _PRINTK_TIME.sub("", _PRINTK_LEVEL.sub("", text), count=1)


class ConsoleParser:
    """Turns console lines into events, one line at a time.

    State: the current boot index (bumped by each ``Linux version`` banner after
    the first), whether the current kernel has panicked, and which panic_print
    sections were already reported for it.
    """

    def __init__(self) -> None:
        self.boot = -1
        self._panicked = False
        self._pstore_panicked = False
        self._print_seen: set[str] = set()
        self._vmcore: list[str] | None = None
        self._vmcore_size = 0

    def feed(self, line: str, t: float | None = None) -> list[Event]:
        """Parse one console line (without its newline) seen at host time ``t``."""
        raw = line.rstrip("\r\n")
        text = strip_printk_prefix(raw.lstrip("\r"))
        m = _BANNER.match(text)
        if m:
            self.boot += 1
            self._panicked = False
            self._print_seen = set()
            return [KernelBooted(m["release"], self.boot, t)]
        boot = max(self.boot, 0)
        m = _PSTORE_LINE.match(text)
        if m:
            inner = strip_printk_prefix(m["text"])
            out: list[Event] = [PstoreLine(m["text"], boot, t)]
            out.extend(self._panic_path(inner, boot, "pstore", t))
            return out
        if text.startswith("LABVMCORE "):
            k = _KERNEL_AFTER.search(text)
            if k is None:
                return self._vmcore_line(text, boot, t)
            # the kernel printed a line right after /init wrote one of its own, before its
            # newline: both are whole (the md5 at the end checks the bytes)
            return [*self._vmcore_line(text[:k.start()], boot, t),
                    *self.feed(text[k.start():], t)]
        m = _MARK.match(text)
        if m:
            return [LabMark(m["name"], boot, t)]
        m = _FAULT.match(text)
        if m:
            words = [w.partition("=") for w in m["detail"].split()]
            return [FaultArmed(m["fault"], tuple((k, v) for k, _, v in words), boot, t)]
        m = _KEXEC.match(text)
        if m:
            return [CrashKernelLoaded(m["rc"] == "0" and m["kcl"] == "1", boot, t)]
        m = _VMCORE.match(text)
        if m:
            return [VmcoreSeen(int(m["size"]), boot, t)]
        m = _PSTORE_FILE.match(text)
        if m:
            return [PstoreRecord(m["file"], int(m["size"]), boot, t)]
        m = _VMCORE_PAGE.match(text)
        if m:
            off = None if m["off"] is None else int(m["off"])
            return [VmcorePageRead(int(m["phys"], 16), off, int(m["read"] or 0),
                                   m["md5"] or "", boot, t, m["via"] or "vmcore")]
        return self._panic_path(text, boot, "console", t)

    def _vmcore_line(self, text: str, boot: int, t: float | None) -> list[Event]:
        """Collect the base64 lines of the vmcore headers; one event at the end line."""
        m = _VMCORE_BEGIN.match(text)
        if m:
            self._vmcore, self._vmcore_size = [], int(m["n"])
            return []
        if self._vmcore is None:
            return []
        m = _VMCORE_END.match(text)
        if m:
            lines, self._vmcore = self._vmcore, None
            try:
                data = decode_lines(lines)
            except VmcoreError as e:
                return [VmcoreHeadersRead(b"", str(e), boot, t)]
            error = ""
            if len(data) != self._vmcore_size:
                error = f"{len(data)} bytes decoded, {self._vmcore_size} sent"
            elif m["md5"] and hashlib.md5(data).hexdigest() != m["md5"]:
                error = "md5 mismatch (a line was cut by other console output)"
            return [VmcoreHeadersRead(data, error, boot, t)]
        d = _VMCORE_DATA.match(text)
        if d:
            self._vmcore.append(d["b64"])
        else:  # another line printed into the middle of one: the bytes are incomplete
            self._vmcore.append("!")
        return []

    def _panic_path(self, text: str, boot: int, source: Source, t: float | None) -> list[Event]:
        """Events a panicking kernel prints (also found inside pstore records)."""
        m = _PANIC.match(text)
        if m:
            if source == "console":
                self._panicked = True
            else:
                self._pstore_panicked = True
            return [PanicStarted(m["msg"], boot, source, t)]
        m = _END.match(text)
        if m and source == "console":
            return [PanicEnded(m["msg"], boot, t)]
        m = _NOTIFIER.match(text)
        if m:
            return [
                ProbeNotifierRan(
                    m["name"], int(m["prio"]), int(m["cpu"]), m["kcl"] == "1", boot, source, t
                )
            ]
        m = _RESULT.match(text)
        if m:
            return [ProbeResult(m["name"], m["result"], boot, source, t)]
        m = _KMSG.match(text)
        if m:
            name = m["name"] or UNNAMED_DUMPER
            return [KmsgDumped(name, int(m["code"]), m["reason"], boot, source, t)]
        m = _OFFSET.match(text)
        if m:
            return [KernelOffsetPrinted(m["text"], boot, source, t)]
        if text.startswith(_STOP_NMI):
            return [StopNmiSent(boot, source, t)]
        if text.startswith(_STOP_FAILED):
            return [StopFailed(text[len(_STOP_FAILED):].strip(), boot, source, t)]
        panicked = self._panicked if source == "console" else self._pstore_panicked
        if panicked:
            for header, kind in PANIC_PRINT_HEADERS:
                if text.startswith(header) and kind not in self._print_seen:
                    self._print_seen.add(kind)
                    return [PanicPrintOutput(kind, boot, source, t)]
        return []


def parse_log_line(parser: ConsoleParser, line: str) -> list[Event]:
    """Parse one line of a lab log file (``[t] text`` or ``[t] QMP NAME {json}``)."""
    if not line.strip() or line.startswith("#"):
        return []
    m = _LOG_LINE.match(line.rstrip("\n"))
    if m is None:
        return parser.feed(line)
    t = float(m["t"])
    text = m["text"]
    q = _QMP_LINE.match(text)
    if q:
        try:
            data = json.loads(q["data"]) if q["data"].strip() else None
        except ValueError:
            data = None
        return [qmp_event(q["name"], data if isinstance(data, dict) else None, t)]
    if text.startswith(("QMP-SEND", "QMP-REPLY")):
        return []
    n = _NO_PROGRESS.match(text)
    if n:  # written by the harness (panicpath.lab.harness _Run.timed_out)
        return [NoProgress(n["phase"], float(n["s"]), max(parser.boot, 0), t)]
    return parser.feed(text, t)


def parse_log_lines(lines: Iterable[str]) -> Iterator[Event]:
    """Events of a whole log, in file order."""
    parser = ConsoleParser()
    for line in lines:
        yield from parse_log_line(parser, line)


def read_log(path: Path) -> list[Event]:
    """Events of a lab log file (the project's logs and the reference captures)."""
    with path.open(encoding="utf-8", errors="replace") as f:
        return list(parse_log_lines(f))


def qmp_events(events: Iterable[Event]) -> list[QmpEvent]:
    """Only the QMP events of a sequence."""
    return [e for e in events if isinstance(e, QmpEvent)]
