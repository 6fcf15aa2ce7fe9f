"""The boot parameters the model reads: each one's type, its valid values and its source.

One declaration serves three readers: the model parses a value with it
(`Scenario.int_param`), the input layer (`panicpath.inputs`) refuses a value it does
not accept before anything runs, and `docs/inputs.md` is generated from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1

_C_INT = re.compile(r"[+-]?(?:0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
_TRUE = ("1", "y", "yes", "true", "on")
_FALSE = ("0", "n", "no", "false", "off")


def parse_c_int(raw: str) -> int:
    """An integer as the kernel's kstrtoint/kstrtoul read one with base 0 (lib/kstrtox.c
    _parse_integer_fixup_radix, 6.1): ``0x`` hexadecimal, a leading ``0`` octal, else
    decimal; an optional sign; one trailing newline. Anything else is ValueError (Python's
    ``int(x, 0)`` would take ``1_0`` and refuse ``010``)."""
    text = raw[:-1] if raw.endswith("\n") else raw
    if not _C_INT.fullmatch(text):
        raise ValueError(f"not an integer: {raw!r}")
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if body[:2] in ("0x", "0X"):
        return sign * int(body[2:], 16)
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body[1:], 8)
    return sign * int(body)


def parse_bool(raw: str) -> int:
    """A bool parameter (core_param bool, lib/kstrtox.c kstrtobool, 6.1): 1 or 0. The
    accepted spellings are the documented ones (y/n, yes/no, true/false, on/off, 1/0, any
    case); kstrtobool reads only the first characters, so ``yellow`` would pass the
    kernel, and is refused here as a typo."""
    low = raw.strip().lower()
    if low in _TRUE:
        return 1
    if low in _FALSE:
        return 0
    raise ValueError(f"not a boolean: {raw!r}")


_SIZE = re.compile(r"(0[xX][0-9a-fA-F]+|[0-9]+)([KMGTkmgt]?)")
_SHIFT = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}


def parse_size(raw: str) -> int:
    """A memory size in bytes as memparse() reads ``crashkernel=SIZE``: a number (decimal or
    0x hex) and an optional K, M, G or T suffix (lib/cmdline.c memparse, 6.1; it also
    takes P and E, which no reservation uses). The kernel's other crashkernel= forms
    (``@offset``, ``,high``, the ``range:size`` list of kernel/crash_core.c
    parse_crashkernel) are not modelled: ValueError."""
    m = _SIZE.fullmatch(raw.strip())
    if m is None:
        raise ValueError(f"not a size: {raw!r}")
    return int(m.group(1), 0) << _SHIFT[m.group(2).upper()]


@dataclass(frozen=True)
class Param:
    """A boot parameter: its kind, the values it accepts, who reads it and where.

    kind: ``bool`` (parse_bool), ``int`` (parse_c_int within lo..hi), ``choice`` (one of
    `choices`), ``names`` (a comma list of at most `max_items` callback names, checked
    against the run's callbacks by panicpath.inputs), ``size`` (parse_size, bytes within
    lo..hi).
    """

    name: str
    kind: str
    source: str
    lo: int = 0
    hi: int = 0
    choices: tuple[str, ...] = ()
    max_items: int = 0

    def valid(self) -> str:
        """What this parameter accepts, in words (for errors and docs/inputs.md)."""
        if self.kind == "bool":
            return "a boolean: 1/0, y/n, yes/no, true/false, on/off"
        if self.kind == "int":
            if self.lo == INT_MIN and self.hi == INT_MAX:
                return f"a C int {INT_MIN}..{INT_MAX} (decimal, 0x hex or 0 octal)"
            return f"an integer {_num(self.lo)}..{_num(self.hi)} (decimal, 0x hex or 0 octal)"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        if self.kind == "size":
            return (f"a size {self.lo >> 20}M..{self.hi >> 30}G: a number (decimal or 0x) "
                    "with an optional K, M, G or T suffix, e.g. 256M")
        return (f"a comma list of at most {self.max_items} callback names registered in the "
                "run (or empty: no filter)")

    def parse(self, raw: str) -> int:
        """The value as an integer (bool and int kinds); ValueError when it is not valid."""
        if self.kind == "bool":
            return parse_bool(raw)
        if self.kind == "size":
            size = parse_size(raw)
            if not self.lo <= size <= self.hi:
                raise ValueError(f"{size} out of range")
            return size
        if self.kind != "int":
            raise ValueError(f"{self.name} is not numeric")
        value = parse_c_int(raw.strip())
        if not self.lo <= value <= self.hi:
            raise ValueError(f"{value} out of range")
        return value


def _num(v: int) -> str:
    return hex(v) if v >= 15 and v & (v + 1) == 0 else str(v)


PARAMS: dict[str, Param] = {p.name: p for p in (
    Param("crash_kexec_post_notifiers", "bool",
          "kernel/panic.c core_param(crash_kexec_post_notifiers, bool) (since v3.16 f06e5153f4ae)"),
    Param("panic_print", "int",
          "kernel/panic.c core_param(panic_print, ulong) (since v5.0): bits 0x1 tasks, 0x2 "
          "memory, 0x4 timers, 0x8 locks, 0x10 ftrace, 0x20 all printk messages, 0x40 all "
          "CPUs' backtraces (6.1 PANIC_PRINT_*)", lo=0, hi=0x7F),
    Param("panic", "int",
          "kernel/panic.c core_param(panic, panic_timeout, int): seconds before reboot; 0 = "
          "loop forever, < 0 = reboot at once", lo=INT_MIN, hi=INT_MAX),
    Param("printk.always_kmsg_dump", "bool",
          "kernel/printk/printk.c module_param_named(always_kmsg_dump, bool)"),
    Param("panic_notifiers_level", "int",
          "proposal (Piccoli 2022 refactor, patch 24): which lists run before kdump, "
          "0 (kdump first) to 4 (all, = crash_kexec_post_notifiers)", lo=0, hi=4),
    Param("panic_notifier_filter", "names",
          "proposal (Piccoli Jan 2022, filter V4): the panic notifiers kept", max_items=16),
    Param("hyperv_record_panic_msg", "int",
          "drivers/hv/hv_common.c sysctl kernel.hyperv_record_panic_msg "
          "(proc_dointvec_minmax, 0..1)", lo=0, hi=1),
    Param("crashkernel", "size",
          "kernel/crash_core.c parse_crashkernel() (memparse, the plain size form): the "
          "memory reserved at boot for the crash kernel; what the crash image and the "
          "capture kernel need of it is the scenario's capture_needs_mib (model/capture.py)",
          lo=1 << 20, hi=1 << 40),
    Param("i6300esb.heartbeat", "int",
          "drivers/watchdog/i6300esb.c module_param(heartbeat, int, 0): the watchdog's "
          "timeout in seconds, ESB_HEARTBEAT_MIN..MAX (default 30, ESB_HEARTBEAT_DEFAULT; "
          "6.1); read by catalog driver i6300esb", lo=1, hi=2046),
    Param("ipmi_msghandler.panic_op", "choice",
          "drivers/char/ipmi/ipmi_msghandler.c module_param_cb(panic_op)",
          choices=("none", "event", "string")),
)}
"""Boot parameters the model reads; anything else is refused with this list."""
