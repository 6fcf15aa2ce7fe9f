"""The one validation layer for values that reach the model, whatever the door.

A command-line option, a scenario file, a space file, an ITF trace or the lab's
prediction all end in a `Scenario`; its boot parameters and fault arguments are
checked here against their declarations (model/params.py `PARAMS`, faults.py
`Fault.arg`) before anything runs. A bad value raises `InputError`, which carries
the name, the value, what is wrong and what is valid, so each door can say where
the value came from (an option, or a file and its line).
"""

from __future__ import annotations

import functools

from panicpath.catalog import DRIVERS
from panicpath.faults import ANONYMOUS_DMA, FAULTS
from panicpath.model.params import PARAMS, Param, parse_c_int, parse_size
from panicpath.model.run import Run
from panicpath.model.scenario import Scenario
from panicpath.model.steps import HRTIMER_LOCK
from panicpath.policies import POLICIES

MAX_HOST_LATENCY_MS = 3_600_000
"""slow-host's upper bound: an hour (seed 001's host took minutes)."""

FAULT_ARGS: dict[str, str] = {
    "": "no argument",
    "cpu": "the id of a CPU other than the panic CPU 0: 1..cpus-1",
    "lock": "a lock of the run: the registered callbacks' locks, and the hrtimer base lock "
            f"({HRTIMER_LOCK}) that panic_print's timer dump takes",
    "callback": "the name of a callback registered in the run (any list)",
    "notifier": "the name of a callback on a notifier chain of the run (panic_notifier_list "
                "or a policy's own lists): its block's next pointer is the corrupt one",
    "ms": f"milliseconds, 1..{MAX_HOST_LATENCY_MS}",
    "device": f"a DMA-capable device the run's drivers register, or {ANONYMOUS_DMA}",
}
"""What each kind of fault argument accepts, in words (errors and docs/inputs.md)."""


class ScenarioError(ValueError):
    """A scenario that names something that does not exist or a value outside its range;
    the message says what is valid. `at` is where the value sits in a scenario file
    (("cpus",), ("placement", 0, "list")), for the file's line; None when not known."""

    def __init__(self, msg: str, at: tuple[str | int, ...] | None = None) -> None:
        super().__init__(msg)
        self.at = at


class InputError(ScenarioError):
    """A value refused by its declaration: `key` is what it is ("param panic_print",
    "fault ipi-deaf-cpu"), `value` the text given, `problem` what is wrong, `valid` what
    would be accepted."""

    def __init__(self, key: str, value: str, problem: str, valid: str) -> None:
        self.key, self.value, self.problem, self.valid = key, value, problem, valid
        super().__init__(f"{key} {value!r}: {problem}; valid: {valid}")

    def for_option(self, option: str) -> str:
        """The message as seen from a command-line option (``--fault ipi-deaf-cpu=99: ...``)."""
        return f"{option} {self.value}: {self.problem}; valid: {self.valid}"


@functools.cache
def param_owners(name: str) -> tuple[str, ...]:
    """The policies that declare `name` as their own parameter (empty: a kernel parameter
    every policy reads)."""
    return tuple(p.name for p in POLICIES.values() if name in p.params)


@functools.cache
def catalog_callback_names() -> frozenset[str]:
    """Every callback name of the catalog, in any kernel version's form."""
    return frozenset(c.name for d in DRIVERS.values() for form in (d, *d.older)
                     for c in form.callbacks)


def check_param_value(name: str, raw: str, callbacks: frozenset[str] | None = None) -> None:
    """Refuse a value its declaration does not accept. `callbacks` are the names a
    ``names`` parameter may hold (None: not checked here)."""
    spec = PARAMS.get(name)
    if spec is None:
        raise InputError("param", f"{name}={raw}", f"unknown boot parameter {name!r}",
                         ", ".join(PARAMS))
    key = f"{name}={raw}"
    if spec.kind == "bool":
        try:
            spec.parse(raw)
        except ValueError:
            raise InputError("param", key, "not a boolean", spec.valid()) from None
    elif spec.kind == "int":
        try:
            value = parse_c_int(raw.strip())
        except ValueError:
            raise InputError("param", key, "not an integer", spec.valid()) from None
        if not spec.lo <= value <= spec.hi:
            raise InputError("param", key, f"{value} is out of range", spec.valid())
    elif spec.kind == "size":
        try:
            size = parse_size(raw)
        except ValueError:
            raise InputError("param", key, "not a size", spec.valid()) from None
        if not spec.lo <= size <= spec.hi:
            raise InputError("param", key, f"{size} bytes is out of range", spec.valid())
    elif spec.kind == "choice":
        if raw not in spec.choices:
            raise InputError("param", key, f"{raw!r} is not a {name} value", spec.valid())
    else:
        _check_names(spec, key, raw, callbacks)


def _check_names(spec: Param, key: str, raw: str, callbacks: frozenset[str] | None) -> None:
    names = [n.strip() for n in raw.split(",") if n.strip()]
    if len(names) > spec.max_items:
        raise InputError("param", key, f"{len(names)} names, more than the "
                         f"{spec.max_items} the patch takes", spec.valid())
    if callbacks is None:
        return
    for n in names:
        if n not in callbacks:
            raise InputError("param", key, f"no callback named {n!r}",
                             ", ".join(sorted(callbacks)))


def check_params(scn: Scenario) -> None:
    """Every boot parameter of the scenario: known, read by its policy, a valid value."""
    for name, raw in scn.params:
        spec = PARAMS.get(name)
        names = (catalog_callback_names() | {c.name for c in scn.user_callbacks}
                 if spec is not None and spec.kind == "names" else None)
        check_param_value(name, raw, names)
        owners = param_owners(name)
        if owners and scn.policy not in owners:
            raise InputError("param", f"{name}={raw}",
                             f"policy {scn.policy} has no {name} (a proposal's parameter)",
                             f"policies {', '.join(owners)}")


def check_fault(spec: str, cpus: int) -> None:
    """A fault's name and the part of its argument that the machine's size decides: CPU
    ids within the machine, milliseconds in range, no argument where none is taken.
    Names of locks, callbacks and devices are checked against the run (check_fault_in_run)."""
    name, sep, arg = spec.partition("=")
    fault = FAULTS.get(name)
    if fault is None:
        raise InputError("fault", spec, f"unknown fault {name!r}", ", ".join(FAULTS))
    if fault.needs_other_cpu and cpus < 2:
        raise InputError("fault", spec, f"needs at least 2 CPUs (cpus={cpus})",
                         "cpus >= 2")
    if not sep:
        return
    if fault.arg == "":
        raise InputError("fault", spec, f"{name} takes no argument", name)
    if arg == "":
        raise InputError("fault", spec, "empty argument",
                         f"{name} alone, or {name}=ARG with ARG {FAULT_ARGS[fault.arg]}")
    if fault.arg == "cpu":
        valid = f"1..{cpus - 1} (a CPU other than the panic CPU 0, of {cpus})"
        if not (arg.isascii() and arg.isdecimal()):
            raise InputError("fault", spec, f"{arg!r} is not a CPU id", valid)
        if not 1 <= int(arg) < cpus:
            what = "is the panic CPU" if int(arg) == 0 else "does not exist"
            raise InputError("fault", spec, f"CPU {int(arg)} {what}", valid)
    elif fault.arg == "ms" and not (arg.isascii() and arg.isdecimal()
                                    and 1 <= int(arg) <= MAX_HOST_LATENCY_MS):
        raise InputError("fault", spec, f"{arg!r} is not a latency in milliseconds",
                         FAULT_ARGS["ms"])


def fault_arg_names(run: Run, kind: str) -> tuple[str, ...]:
    """The names a ``lock``, ``callback`` or ``device`` argument may take in this booted run
    (before faults are applied)."""
    callbacks = [*run.notifiers, *run.dumpers, *run.crash_shutdown,
                 *(cb for lst in run.extra_lists.values() for cb in lst)]
    if kind == "lock":
        return tuple(sorted({n.arg for cb in callbacks for n in cb.needs
                             if n.kind in ("lock", "trylock", "mutex")}
                            | set(run.machine.locks) | {HRTIMER_LOCK}))
    if kind == "callback":
        return tuple(dict.fromkeys(cb.name for cb in callbacks))
    if kind == "notifier":
        chained = [*run.notifiers, *(cb for lst in run.extra_lists.values() for cb in lst)]
        return tuple(dict.fromkeys(cb.name for cb in chained))
    if kind == "device":
        return (*sorted(run.dma_devices), ANONYMOUS_DMA)
    return ()


def check_fault_in_run(spec: str, run: Run) -> None:
    """A lock, callback or device argument names one that exists in this run."""
    name, sep, arg = spec.partition("=")
    kind = FAULTS[name].arg
    if not sep or kind not in ("lock", "callback", "device", "notifier"):
        return
    valid = fault_arg_names(run, kind)
    if arg not in valid:
        raise InputError("fault", spec, f"no {kind} {arg!r} in this run",
                         ", ".join(valid) or f"none ({name} alone)")


def check_placements(scn: Scenario) -> None:
    """Each placement names a callback that exists: one of the catalog (any kernel version's
    form) or of the scenario's own; a misspelt name would otherwise move nothing."""
    names = catalog_callback_names() | {c.name for c in scn.user_callbacks}
    for i, (name, _, _) in enumerate(scn.overrides):
        if name not in names:
            raise ScenarioError(f"placement of {name!r}: no such callback; valid: "
                                f"{', '.join(sorted(names))}", ("placement", i, "callback"))


def check_scenario(scn: Scenario) -> None:
    """The declared checks that need no run: parameters, fault names and arguments, the
    callbacks placements name."""
    check_params(scn)
    for f in scn.faults:
        check_fault(f, scn.cpus)
    check_placements(scn)
