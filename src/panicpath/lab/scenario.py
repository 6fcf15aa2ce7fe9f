"""Lab scenario files (TOML): what to boot, how to panic it, what to watch.

A scenario names the kernel flavour, whether a crash kernel is loaded, the
panic-related boot parameters (kernel/panic.c core_params of Linux 6.1:
``panic``, ``panic_print``, ``crash_kexec_post_notifiers``), the probe
callbacks the generated module registers (panic notifiers in registration
order, kmsg dumpers), the devices (pvpanic, a ramoops region reserved with
``memmap=``), the trigger (``echo c > /proc/sysrq-trigger`` or an NMI injected
from the host with ``unknown_nmi_panic``), the machine and QEMU's panic action.

``load_scenario(path)`` returns a frozen ``LabScenario`` or raises
``ScenarioError`` whose text is one line: file, line, what is wrong, what is
valid. The format is documented in docs/lab.md.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, cast

from panicpath.names import one_line
from panicpath.tomlfile import BOM, TOO_DEEP, deep_line, key_line, read_input, syntax_error

Flavour = Literal["cloud-amd64", "amd64", "cloud-arm64", "arm64", "powerpc64le"]
Arch = Literal["x86_64", "arm64", "ppc64el"]
Behaviour = Literal["return", "stop", "spin", "lock"]
Trigger = Literal["sysrq", "nmi"]
PanicAction = Literal["shutdown", "pause", "none", "exit-failure"]

ARCH_FLAVOURS: dict[Arch, tuple[Flavour, ...]] = {
    "x86_64": ("cloud-amd64", "amd64"),
    "arm64": ("cloud-arm64", "arm64"),
    "ppc64el": ("powerpc64le",),
}
"""The guest architectures and the Debian kernel flavours each has (the first is the
default); panicpath.lab.archive.FLAVOURS is the same table for the kernel supply."""
ARCHES: tuple[Arch, ...] = tuple(ARCH_FLAVOURS)
FLAVOURS: tuple[Flavour, ...] = tuple(f for fl in ARCH_FLAVOURS.values() for f in fl)
RELEASE_RE = re.compile(r"^[1-9][0-9]?\.[0-9]{1,2}\Z")
BEHAVIOURS: tuple[Behaviour, ...] = ("return", "stop", "spin", "lock")
TRIGGERS: tuple[Trigger, ...] = ("sysrq", "nmi")
PANIC_ACTIONS: tuple[PanicAction, ...] = ("shutdown", "pause", "none", "exit-failure")
Watchdog = Literal["none", "i6300esb"]
WATCHDOGS: tuple[Watchdog, ...] = ("none", "i6300esb")
WATCHDOG_HANGS = ("hanging-callback", "lock-held-by-stopped-cpu", "corrupted-notifier-list")
"""Faults that can stop panic() before kdump: with a watchdog the machine would reset in the
first kernel, which the model does not have (its watchdogs expire during the dump)."""
CRASH_INIT_S = (4, 12)
"""Seconds from the panic to the crash kernel's /init, Debian 6.1 amd64 under TCG: 7.3-9.3
measured (docs/lab.md "A watchdog during the dump"), widened for a loaded host. With /init's
second of work the dump ends dump_delay_s + 5..13 s after the panic; the model says
dump_delay_s + 6 (a 5 s capture boot). A heartbeat inside that band could go either way."""

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,31}\Z")
_SIZE = re.compile(r"^[0-9]+[MG]\Z")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}\Z")
"""A scenario's name: it names run directories and report keys and is written into the
probe's C source, so letters, digits and ``._+-`` only (no path separator, quote or
space)."""
_PARAM = re.compile(r"^[\x21-\x7e]+\Z")
"""A kernel parameter of boot.extra: printable ASCII without spaces."""
RESERVE_MAX_MIB = 8192 - 256
"""The largest crash_kernel.reserve: the largest machine.memory_mib less the 256 MiB the
first kernel keeps."""
EXTRA_OWNED: dict[str, str] = {
    "panic": "boot.panic",
    "panic_print": "boot.panic_print",
    "crash_kexec_post_notifiers": "boot.crash_kexec_post_notifiers",
    "crashkernel": "crash_kernel.reserve",
    "unknown_nmi_panic": 'trigger.kind = "nmi"',
    "i6300esb.heartbeat": "devices.watchdog_timeout",
}
"""Kernel parameters boot.extra may not give because a key of the scenario sets them (the
lab writes them on the command line and the model predicts from the key; the kernel would
take the last value). The lab's own (``console``, ``lab.*``) and the other parameters the
model reads are refused too (boot.extra does not reach the model)."""


class ScenarioError(Exception):
    """A scenario file that cannot be used; ``str()`` is the one-line message."""

    def __init__(self, path: Path | str, line: int | None, what: str, valid: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(one_line(f"{where}: {what}; valid: {valid}"))
        self.path = Path(path)
        self.line = line


@dataclass(frozen=True)
class NotifierProbe:
    """A panic notifier the probe module registers (atomic_notifier_chain_register
    on panic_notifier_list, kernel/notifier.c notifier_chain_register(), 6.1:
    sorted by priority, equal priorities in registration order)."""

    name: str
    priority: int = 0
    behaviour: Behaviour = "return"
    spin_ms: int = 0
    lock_timeout_ms: int = 0


@dataclass(frozen=True)
class DumperProbe:
    """A kmsg dumper the probe module registers (kmsg_dump_register,
    kernel/printk/printk.c, 6.1), limited to reasons up to KMSG_DUMP_PANIC."""

    name: str


@dataclass(frozen=True)
class PhaseTimeouts:
    """Seconds allowed for each phase of a run (host wall clock)."""

    boot: float = 60.0
    load: float = 30.0
    panic: float = 30.0
    crash_kernel: float = 60.0


@dataclass(frozen=True)
class LabScenario:
    """One lab run, as read from a scenario file."""

    name: str
    description: str = ""
    flavour: Flavour = "cloud-amd64"
    release: str = "6.1"
    """The kernel series (Debian's linux-image of that series, panicpath.lab.archive)."""
    arch: Arch = "x86_64"
    crash_kernel: bool = True
    crashkernel_size: str = "256M"
    post_notifiers: bool = False
    panic_print: int = 0
    panic_timeout: int = 0
    extra_params: tuple[str, ...] = ()
    notifiers: tuple[NotifierProbe, ...] = ()
    dumpers: tuple[DumperProbe, ...] = ()
    pvpanic: bool = True
    ramoops: bool = False
    trigger: Trigger = "sysrq"
    cpus: int = 2
    memory_mib: int = 1024
    panic_action: PanicAction = "shutdown"
    timeouts: PhaseTimeouts = field(default_factory=PhaseTimeouts)
    path: Path | None = None
    faults: tuple[str, ...] = ()
    """The model's faults (panicpath.faults), ``NAME`` or ``NAME=ARG``, that the probe
    produces in the guest (panicpath.lab.probe)."""
    watchdog: Watchdog = "none"
    """A hardware watchdog (QEMU ``-device i6300esb``) that /init arms just before the
    panic, kept alive by busybox's watchdog daemon until panic() stops the CPUs."""
    watchdog_timeout_s: int = 30
    dump_delay_s: int = 0
    """Seconds the crash kernel's /init waits before it reads /proc/vmcore (a stand-in for a
    long makedumpfile copy)."""

    @property
    def series(self) -> tuple[int, int]:
        """`release` as numbers ("6.12" -> (6, 12)); the reader checked its form."""
        major, _, minor = self.release.partition(".")
        return int(major), int(minor)

    @property
    def has_probe(self) -> bool:
        """Whether a probe module must be built and loaded."""
        return bool(self.notifiers or self.dumpers or
                    any(f != "nmi-context" for f in self.faults))


def _num(v: float) -> str:
    """A bound as written: integers in full (INT_MIN, not -2.14748e+09)."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


@dataclass(frozen=True)
class Field:
    """What one key of a lab scenario accepts: the declaration the reader checks against
    and docs/inputs.md is generated from."""

    kind: str
    """bool, int, seconds, choice, size, ident, text, params, faults, table (an array of
    tables)."""
    default: object = None
    lo: float = 0
    hi: float = 0
    choices: tuple[str, ...] = ()
    note: str = ""

    def accepts(self) -> str:
        """In words, for errors and docs."""
        text = {
            "bool": "true or false",
            "int": f"an integer {_num(self.lo)}..{_num(self.hi)}",
            "seconds": f"seconds, {_num(self.lo)}..{_num(self.hi)}",
            "choice": "one of " + ", ".join(self.choices),
            "size": f'a size such as "256M" (digits and M or G), {_num(self.lo)}M..{_num(self.hi)}M',
            "release": 'a kernel series such as "6.1" or "6.12"',
            "ident": "a C identifier of lower-case letters, digits and _ (1-32 chars)",
            "text": "a string",
            "params": 'a list of kernel parameters (printable ASCII, no spaces), e.g. '
                      '["loglevel=7"], none that a key of the scenario sets or the lab owns',
            "faults": "a list of the model's fault names (NAME or NAME=ARG) the guest can have",
            "table": "an array of tables",
        }[self.kind]
        if self.default is not None and self.kind != "table":
            shown = str(self.default).lower() if isinstance(self.default, bool) else self.default
            text += f"; default {shown}"
        return f"{text} ({self.note})" if self.note else text


LAB_FIELDS: dict[str, Field] = {
    "name": Field("text", note="letters, digits, '.', '_', '+', '-' (1-64, starting with a "
                               "letter or digit); default: the file's stem"),
    "description": Field("text", ""),
    "faults": Field("faults", note="see docs/lab.md, Faults in the guest"),
    "kernel.release": Field("release", "6.1",
                            note="a series the archive carries: panicpath lab kernels"),
    "kernel.arch": Field("choice", "x86_64", choices=ARCHES),
    "kernel.flavour": Field("choice", None, choices=FLAVOURS,
                            note="one of the arch's: x86_64 cloud-amd64 (default) or amd64, "
                                 "arm64 cloud-arm64 (default) or arm64, ppc64el powerpc64le"),
    "crash_kernel.loaded": Field("bool", True),
    "crash_kernel.dump_delay_s": Field("int", 0, 0, 600,
                                       note="the crash kernel's /init waits this long before "
                                            "it reads the vmcore (a slow dump); at most "
                                            "timeouts.crash_kernel - 15"),
    "crash_kernel.reserve": Field("size", "256M", 1, RESERVE_MAX_MIB,
                                  note="x86_64 6.1: from 57M kexec -p loads it, from 76M it works; per "
                                       "arch and release in docs/lab.md"),
    "boot.crash_kexec_post_notifiers": Field("bool", False),
    "boot.panic_print": Field("int", 0, 0, 0x7F),
    "boot.panic": Field("int", 0, -1, 3600),
    "boot.extra": Field("params", note="default none"),
    "notifier": Field("table", note="[[notifier]]: a probe panic notifier"),
    "notifier.name": Field("ident"),
    "notifier.priority": Field("int", 0, -(2**31), 2**31 - 1),
    "notifier.behaviour": Field("choice", "return", choices=BEHAVIOURS),
    "notifier.spin_ms": Field("int", 0, 0, 600_000, note="1.. with behaviour spin"),
    "notifier.lock_timeout_ms": Field("int", 0, 0, 600_000),
    "kmsg_dumper": Field("table", note="[[kmsg_dumper]]: a probe kmsg dumper"),
    "kmsg_dumper.name": Field("ident"),
    "devices.pvpanic": Field("bool", True),
    "devices.ramoops": Field("bool", False),
    "devices.watchdog": Field("choice", "none", choices=WATCHDOGS,
                              note="i6300esb: QEMU's PCI watchdog, armed before the panic and "
                                   "never stopped; x86_64, a kernel with CONFIG_I6300ESB_WDT "
                                   "(flavour amd64), the crash kernel loaded"),
    "devices.watchdog_timeout": Field("int", 30, 10, 2046,
                                      note="seconds (i6300esb heartbeat); the daemon pets it "
                                           "every 0.5 s until the panic; the crash kernel "
                                           "prints its banner up to 7.5 s after the panic; "
                                           "not within crash_kernel.dump_delay_s + 5..13"),
    "trigger.kind": Field("choice", "sysrq", choices=TRIGGERS),
    "machine.cpus": Field("int", 2, 1, 8),
    "machine.memory_mib": Field("int", 1024, 256, 8192,
                                note="at least the crashkernel reservation + 256"),
    "machine.panic_action": Field("choice", "shutdown", choices=PANIC_ACTIONS),
    "timeouts.boot": Field("seconds", 60, 1, 3600),
    "timeouts.load": Field("seconds", 30, 1, 3600),
    "timeouts.panic": Field("seconds", 30, 1, 3600),
    "timeouts.crash_kernel": Field("seconds", 60, 1, 3600),
}
"""Every key of a lab scenario file ("table.key" for keys inside a table)."""

LAB_KEYS: dict[str, str] = {k: f.accepts() for k, f in LAB_FIELDS.items()}
"""What each key accepts, in words (docs/inputs.md)."""

_TOP_KEYS = {k.partition(".")[0] for k in LAB_FIELDS}
_TABLE_KEYS: dict[str, set[str]] = {}
for _k in LAB_FIELDS:
    if "." in _k:
        _TABLE_KEYS.setdefault(_k.partition(".")[0], set()).add(_k.partition(".")[2])


_ARRAYS = ("notifier", "kmsg_dumper")
"""The arrays of tables of a lab scenario ([[notifier]], [[kmsg_dumper]])."""


def _locate(text: str, table: str | None, key: str | None, index: int = 0) -> int | None:
    """Line (1-based) of ``key`` in ``[table]`` (the ``index``-th for ``[[notifier]]`` and
    ``[[kmsg_dumper]]``, inline tables and dotted keys too), else of the table, else None.
    tomllib reports lines only for syntax errors."""
    path: list[str | int] = []
    if table is not None:
        path.append(table)
        if table in _ARRAYS:
            path.append(index)
    if key is not None:
        path.append(key)
    return key_line(text, path) if path else None


class _Reader:
    """Typed access to a parsed TOML document that reports errors with lines."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text

    def fail(self, table: str | None, key: str | None, what: str, valid: str,
             index: int = 0) -> ScenarioError:
        return ScenarioError(self.path, _locate(self.text, table, key, index), what, valid)

    def table(self, doc: Mapping[str, object], name: str) -> Mapping[str, object]:
        value = doc.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(None, name, f"'{name}' must be a table", f"[{name}]")
        self.check_keys(value, name)
        return cast(Mapping[str, object], value)

    def check_keys(self, value: Mapping[str, object], name: str, index: int = 0) -> None:
        for key in value:
            if key not in _TABLE_KEYS[name]:
                raise self.fail(name, key, f"unknown key {key!r} in [{name}]",
                                ", ".join(sorted(_TABLE_KEYS[name])), index)

    def get_bool(self, t: Mapping[str, object], table: str, key: str) -> bool:
        f = LAB_FIELDS[f"{table}.{key}"]
        v = t.get(key, f.default)
        if not isinstance(v, bool):
            raise self.fail(table, key, f"{table}.{key} = {v!r} is not a boolean", "true, false")
        return v

    def get_int(self, t: Mapping[str, object], table: str, key: str, index: int = 0) -> int:
        f = LAB_FIELDS[f"{table}.{key}"]
        v = t.get(key, f.default)
        if isinstance(v, bool) or not isinstance(v, int) or not f.lo <= v <= f.hi:
            raise self.fail(table, key, f"{table}.{key} = {v!r} is out of range",
                            f"an integer from {_num(f.lo)} to {_num(f.hi)}", index)
        return v

    def get_num(self, t: Mapping[str, object], table: str, key: str) -> float:
        f = LAB_FIELDS[f"{table}.{key}"]
        v = t.get(key, f.default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not f.lo <= v <= f.hi:
            raise self.fail(table, key, f"{table}.{key} = {v!r} is out of range",
                            f"a number of seconds from {_num(f.lo)} to {_num(f.hi)}")
        return float(v)

    def get_choice(self, t: Mapping[str, object], table: str, key: str, index: int = 0) -> str:
        f = LAB_FIELDS[f"{table}.{key}"]
        v = t.get(key, f.default)
        if v not in f.choices:
            raise self.fail(table, key, f"{table}.{key} = {v!r} is not known",
                            ", ".join(f.choices), index)
        return str(v)

    def get_ident(self, t: Mapping[str, object], table: str, index: int) -> str:
        v = t.get("name")
        if not isinstance(v, str) or not _IDENT.match(v):
            raise self.fail(table, "name", f"[[{table}]] #{index + 1} name = {v!r} is not usable",
                            "a C identifier of lower-case letters, digits and _ (1-32 chars)",
                            index)
        return v


def reserve_mib(size: str) -> int:
    """A ``reserve`` in the forms the reader accepts ("64M", "1G") in MiB."""
    s = size.strip().upper()
    return int(s[:-1]) * (1024 if s.endswith("G") else 1)


def parse_scenario(text: str, path: Path) -> LabScenario:
    """A LabScenario from the text of a scenario file (``path`` names it in errors)."""
    text = text.removeprefix(BOM)
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line, msg = syntax_error(e, text)
        raise ScenarioError(path, line, f"not valid TOML ({msg})",
                            "TOML 1.0, see docs/lab.md") from None
    except RecursionError:
        what, _, valid = TOO_DEEP.partition("; valid: ")
        raise ScenarioError(path, deep_line(text), what, valid) from None
    r = _Reader(path, text)
    for key in doc:
        if key not in _TOP_KEYS:
            raise r.fail(None, key, f"unknown key {key!r}", ", ".join(sorted(_TOP_KEYS)))
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not _NAME.match(name):
        what = (f"name = {name!r} is not usable" if "name" in doc else
                f"the file's stem {name!r}, the default name, is not usable: set name")
        raise r.fail(None, "name", what, LAB_FIELDS["name"].note.partition(";")[0])
    description = doc.get("description", "")
    if not isinstance(description, str):
        raise r.fail(None, "description", "description is not a string", "a string")

    kernel = r.table(doc, "kernel")
    release = kernel.get("release", "6.1")
    if not isinstance(release, str) or not RELEASE_RE.match(release):
        raise r.fail("kernel", "release", f"kernel.release = {release!r} is not a series",
                     'a series such as "5.10", "6.1", "6.12" (panicpath lab kernels)')
    arch = cast(Arch, r.get_choice(kernel, "kernel", "arch"))
    flavour = cast(Flavour, kernel.get("flavour", ARCH_FLAVOURS[arch][0]))
    if flavour not in ARCH_FLAVOURS[arch]:
        raise r.fail("kernel", "flavour", f"kernel.flavour = {flavour!r} is not a flavour "
                     f"of {arch}", ", ".join(ARCH_FLAVOURS[arch]))

    ck = r.table(doc, "crash_kernel")
    crash_loaded = r.get_bool(ck, "crash_kernel", "loaded")
    reserve = ck.get("reserve", "256M")
    if not isinstance(reserve, str) or not _SIZE.match(reserve) or \
            not 1 <= reserve_mib(reserve) <= RESERVE_MAX_MIB:
        raise r.fail("crash_kernel", "reserve", f"crash_kernel.reserve = {reserve!r} is not a size "
                     f"from 1M to {RESERVE_MAX_MIB}M",
                     "a size such as \"256M\" (x86_64 6.1 needs 76M; docs/lab.md)")

    boot = r.table(doc, "boot")
    post = r.get_bool(boot, "boot", "crash_kexec_post_notifiers")
    panic_print = r.get_int(boot, "boot", "panic_print")
    panic_timeout = r.get_int(boot, "boot", "panic")
    extra = _extra(r, boot)

    notifiers = _notifiers(r, doc)
    dumpers = _dumpers(r, doc)
    probes = [("notifier", i, n.name) for i, n in enumerate(notifiers)] + [
        ("kmsg_dumper", i, d.name) for i, d in enumerate(dumpers)]
    for k, (table, index, probe) in enumerate(probes):
        if any(p == probe for _, _, p in probes[:k]):
            raise r.fail(table, "name", f"probe name '{probe}' is used twice",
                         "a distinct name for every [[notifier]] and [[kmsg_dumper]]", index)

    dev = r.table(doc, "devices")
    pvpanic = r.get_bool(dev, "devices", "pvpanic")
    ramoops = r.get_bool(dev, "devices", "ramoops")
    watchdog = cast(Watchdog, r.get_choice(dev, "devices", "watchdog"))
    wdt_timeout = r.get_int(dev, "devices", "watchdog_timeout")
    dump_delay = r.get_int(ck, "crash_kernel", "dump_delay_s")

    trig = r.table(doc, "trigger")
    trigger = cast(Trigger, r.get_choice(trig, "trigger", "kind"))

    mach = r.table(doc, "machine")
    cpus = r.get_int(mach, "machine", "cpus")
    memory = r.get_int(mach, "machine", "memory_mib")
    action = cast(PanicAction, r.get_choice(mach, "machine", "panic_action"))
    reserved = reserve_mib(reserve)
    if crash_loaded and memory < reserved + 256:
        raise r.fail("machine" if "memory_mib" in mach else "crash_kernel",
                     "memory_mib" if "memory_mib" in mach else "reserve",
                     f"machine.memory_mib = {memory} is too small beside crashkernel={reserve}",
                     f"at least {reserved + 256}")
    if any(n.behaviour == "lock" for n in notifiers) and cpus < 2:
        raise r.fail("machine", "cpus", "behaviour 'lock' needs another CPU to hold the lock",
                     "machine.cpus >= 2")

    to = r.table(doc, "timeouts")
    timeouts = PhaseTimeouts(
        boot=r.get_num(to, "timeouts", "boot"),
        load=r.get_num(to, "timeouts", "load"),
        panic=r.get_num(to, "timeouts", "panic"),
        crash_kernel=r.get_num(to, "timeouts", "crash_kernel"),
    )
    faults = _faults(r, doc, notifiers, cpus, trigger)
    if dump_delay and dump_delay + 15 > timeouts.crash_kernel:
        raise r.fail("crash_kernel", "dump_delay_s", f"crash_kernel.dump_delay_s = {dump_delay} "
                     f"leaves the crash kernel no time within timeouts.crash_kernel = "
                     f"{timeouts.crash_kernel:g}", "at most timeouts.crash_kernel - 15 "
                     "(raise timeouts.crash_kernel)")
    if watchdog != "none":
        hang = [f for f in faults if f.partition("=")[0] in WATCHDOG_HANGS] + [
            f"notifier '{n.name}' (lock without a timeout)" for n in notifiers
            if n.behaviour == "lock" and n.lock_timeout_ms == 0]
        if not crash_loaded or hang:
            why = "without a crash kernel" if not crash_loaded else f"with {hang[0]}"
            raise r.fail("devices", "watchdog", f"devices.watchdog {why}: the watchdog would "
                         "reset the machine before kdump, and the model's watchdogs expire "
                         "during the dump only", "a watchdog with crash_kernel.loaded = true and "
                         "none of " + ", ".join(WATCHDOG_HANGS))
        lo, hi = (dump_delay + CRASH_INIT_S[0] + 1, dump_delay + CRASH_INIT_S[1] + 1)
        if lo <= wdt_timeout <= hi:
            raise r.fail("devices", "watchdog_timeout", f"devices.watchdog_timeout = "
                         f"{wdt_timeout} is too close to the end of the dump ({lo}..{hi} s "
                         "after the panic under TCG): kernel and model may disagree",
                         f"at most {lo - 1} (it fires) or at least {hi + 1} (the dump ends "
                         "first)")
    return LabScenario(
        name=name, description=description, flavour=flavour, release=release, arch=arch,
        crash_kernel=crash_loaded,
        crashkernel_size=reserve, post_notifiers=post, panic_print=panic_print,
        panic_timeout=panic_timeout, extra_params=tuple(extra),
        notifiers=notifiers, dumpers=dumpers, pvpanic=pvpanic, ramoops=ramoops,
        trigger=trigger, cpus=cpus, memory_mib=memory, panic_action=action,
        timeouts=timeouts, path=path, faults=faults, watchdog=watchdog,
        watchdog_timeout_s=wdt_timeout, dump_delay_s=dump_delay,
    )


def _extra(r: _Reader, boot: Mapping[str, object]) -> list[str]:
    """``boot.extra``: kernel parameters the lab adds verbatim, none that the scenario's keys
    set (the model predicts from the keys, and the kernel takes the last value given) or
    that the lab itself writes; names compared as the kernel does, ``-`` as ``_``."""
    from panicpath.model.params import PARAMS

    value = boot.get("extra", [])
    if not isinstance(value, list) or not all(isinstance(x, str) and _PARAM.match(x)
                                              for x in value):
        raise r.fail("boot", "extra", f"boot.extra = {value!r} is not a list of kernel "
                     "parameters", "a list of strings of printable ASCII without spaces, "
                     "e.g. [\"loglevel=7\"]")
    model = {p.replace("-", "_") for p in PARAMS}
    for item in cast(list[str], value):
        name = item.partition("=")[0].replace("-", "_")
        why, valid = "", "leave it out"
        if name in EXTRA_OWNED:
            why, valid = f"set by {EXTRA_OWNED[name]}", f"{EXTRA_OWNED[name]} instead"
        elif name == "console" or name.startswith("lab."):
            why = "the lab's own (it sets the console it reads and its lab.* parameters)"
        elif name in model:
            why = "read by the model, and boot.extra does not reach its prediction"
        if why:
            raise r.fail("boot", "extra", f"boot.extra {item!r}: {name} is {why}", valid)
    return cast(list[str], value)


#: Why the guest cannot have a model fault (docs/lab.md "Faults in the guest").
_NO_GUEST_FAULT = {
    "slow-host": "slow-host needs a Hyper-V host answering CHANNELMSG_UNLOAD; the lab's "
                 "QEMU guest has no hypervisor interface",
}


def _faults(r: _Reader, doc: Mapping[str, object], notifiers: tuple[NotifierProbe, ...],
            cpus: int, trigger: Trigger) -> tuple[str, ...]:
    """``faults = [...]``: model fault names (panicpath.faults.FAULTS), ``NAME=ARG``
    allowed, refused with one line when the guest cannot have them."""
    from panicpath.faults import FAULTS
    from panicpath.inputs import InputError, check_fault

    value = doc.get("faults", [])
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise r.fail(None, "faults", "faults must be a list of fault names",
                     'a list of strings, e.g. ["ipi-deaf-cpu"]')
    usable = [f for f in FAULTS if f not in _NO_GUEST_FAULT]
    names = {n.name for n in notifiers}
    for item in value:
        try:
            check_fault(item, cpus)  # the model's declaration: names, CPU ids, no-arg faults
        except InputError as e:
            raise r.fail(None, "faults", f"{e.key} {e.value!r}: {e.problem}", e.valid) from None
        why = _guest_limit(item, names, trigger)
        if why:
            raise r.fail(None, "faults", why, ", ".join(usable))
    return tuple(cast(list[str], value))


def _guest_limit(item: str, notifiers: set[str], trigger: Trigger) -> str:
    """Why the guest cannot have a fault the model accepts (empty: it can): what the probe
    can produce (its own lock, its own notifiers, no device) and the trigger. The lock
    fault without a notifier that takes the lock is accepted: the model holds probe_lock
    (lab/predict.py) and nothing takes it; in the guest a CPU holds it, preemption off."""
    fault, _, arg = item.partition("=")
    if fault in _NO_GUEST_FAULT:
        return _NO_GUEST_FAULT[fault]
    if fault == "lock-held-by-stopped-cpu" and arg not in ("", "probe_lock"):
        return f"{item}: the probe can hold only its own lock, probe_lock"
    if fault == "hanging-callback" and arg and arg not in notifiers:
        return f"{item}: the probe can make only its own [[notifier]] hang"
    if fault == "dma-active" and arg:
        return f"{item}: the guest has no such device; dma-active takes no argument here"
    if fault == "corrupted-notifier-list" and (arg or not notifiers):
        return "corrupted-notifier-list corrupts the first [[notifier]]'s next: add one"
    if fault == "nmi-context" and trigger != "nmi":
        return 'nmi-context is a panic entered from an NMI: set [trigger] kind = "nmi"'
    return ""


def _array(r: _Reader, doc: Mapping[str, object], name: str) -> list[Mapping[str, object]]:
    value = doc.get(name, [])
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise r.fail(None, name, f"'{name}' must be an array of tables", f"[[{name}]] entries")
    for i, item in enumerate(value):
        r.check_keys(item, name, i)
    return cast(list[Mapping[str, object]], value)


def _notifiers(r: _Reader, doc: Mapping[str, object]) -> tuple[NotifierProbe, ...]:
    out = []
    for i, t in enumerate(_array(r, doc, "notifier")):
        name = r.get_ident(t, "notifier", i)
        prio = r.get_int(t, "notifier", "priority", i)
        beh = cast(Behaviour, r.get_choice(t, "notifier", "behaviour", i))
        spin = r.get_int(t, "notifier", "spin_ms", i)
        lock_to = r.get_int(t, "notifier", "lock_timeout_ms", i)
        if beh == "spin" and spin == 0:
            raise r.fail("notifier", "behaviour", f"notifier '{name}' spins but has no spin_ms",
                         "spin_ms = 1..600000 with behaviour = \"spin\"", i)
        out.append(NotifierProbe(name, prio, beh, spin, lock_to))
    return tuple(out)


def _dumpers(r: _Reader, doc: Mapping[str, object]) -> tuple[DumperProbe, ...]:
    return tuple(
        DumperProbe(r.get_ident(t, "kmsg_dumper", i))
        for i, t in enumerate(_array(r, doc, "kmsg_dumper"))
    )


def load_scenario(path: Path) -> LabScenario:
    """Read and check one scenario file."""
    try:
        data = read_input(path)
        text = data.decode("utf-8").removeprefix(BOM)
    except OSError as e:
        raise ScenarioError(path, None, f"cannot read ({e.strerror})",
                            "a readable TOML scenario file") from None
    except UnicodeDecodeError as e:
        raise ScenarioError(path, text_line(data, e.start),
                            "not UTF-8 text", "a TOML scenario file in UTF-8") from None
    return parse_scenario(text, path)


def text_line(data: bytes, offset: int) -> int:
    """The 1-based line of byte `offset` in `data` (where a decoding error starts)."""
    return data.count(b"\n", 0, offset) + 1


def with_kernel(sc: LabScenario, release: str | None = None,
                arch: str | None = None) -> LabScenario:
    """`sc` on another kernel series or architecture (``lab run --release/--arch``); a
    flavour that the new arch does not have becomes that arch's default. Bad values raise
    ScenarioError naming the option."""
    if release is not None and not RELEASE_RE.match(release):
        raise ScenarioError("--release", None, f"{release!r} is not a kernel series",
                            '"5.10", "6.1", "6.12", ... (panicpath lab kernels)')
    if arch is not None and arch not in ARCH_FLAVOURS:
        raise ScenarioError("--arch", None, f"unknown arch {arch!r}", ", ".join(ARCHES))
    new_arch = arch if arch is not None else sc.arch
    flavour = sc.flavour if sc.flavour in ARCH_FLAVOURS[new_arch] else \
        ARCH_FLAVOURS[new_arch][0]
    return replace(sc, release=release or sc.release, arch=new_arch, flavour=flavour)


def builtin_scenarios_dir() -> Path:
    """The scenarios shipped with panicpath (package data)."""
    return Path(__file__).resolve().parent / "scenarios"
