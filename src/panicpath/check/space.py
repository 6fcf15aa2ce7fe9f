"""Configuration spaces for `compare`: architecture x hypervisor x drivers x kdump x
parameters x faults, restricted to machines that can exist.

The default space holds every situation the seeds discuss (see SITUATIONS); a TOML file
(`compare --space FILE`, `load_space`) narrows or widens it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from panicpath.arch import ARCHES
from panicpath.catalog import DRIVERS
from panicpath.faults import FAULTS
from panicpath.inputs import (
    InputError,
    catalog_callback_names,
    check_fault,
    check_param_value,
    param_owners,
)
from panicpath.model.callback import LISTS, Callback
from panicpath.model.scenario import BOOT_PARAMS, HOST_PANIC_ACTIONS, HYPERVISORS, Scenario
from panicpath.policies import POLICIES
from panicpath.tomlfile import key_line, line_of, read_toml

ARCH_HYPERVISORS: dict[str, tuple[str, ...]] = {
    "x86_64": ("none", "kvm", "hyperv", "xen"),
    "arm64": ("none", "kvm", "hyperv"),
    "powerpc": ("none",),
    "mips-octeon": ("none",),
    "s390": ("none",),
}
"""Which hypervisors the model runs on which architecture (Hyper-V guests exist on x86_64
and arm64, seed 004; Xen guests are modelled on x86_64 only)."""

def no_configuration(arches: tuple[str, ...], hypervisors: tuple[str, ...],
                     space_file: str | None = None) -> str:
    """The one-line error for a question or space that selects no machine: which
    architectures run under which hypervisors."""
    chosen = " ".join([*(f"--arch {a}" for a in arches),
                       *(f"--hypervisor {h}" for h in hypervisors),
                       *([f"--space {space_file}"] if space_file else [])])
    why = ("no such machine is modelled" if space_file is None else
           "no such machine is modelled, or the space file's driver_sets leave none")
    pairs = "; ".join(f"{a} under {', '.join(h)}" for a, h in ARCH_HYPERVISORS.items())
    return f"{chosen} selects no configuration ({why}); valid: {pairs}"


OPTIONAL_DRIVER_SETS: dict[str, tuple[tuple[str, ...], ...]] = {
    "x86_64": ((), ("pvpanic", "ramoops"), ("bcm-vk",), ("ipmi-panic-event", "ipmi-watchdog")),
    "arm64": ((), ("pvpanic", "ramoops"), ("bcm-vk",)),
    "powerpc": ((), ("fadump",), ("ramoops",)),
    "mips-octeon": ((),),
    "s390": ((),),
}
HYPERV_EXTRA: tuple[str, ...] = ("hyperv-fb",)
HYPERV_PARAMS: tuple[tuple[tuple[str, str], ...], ...] = ((), (("hyperv_record_panic_msg", "0"),))
"""Hyper-V with and without the kmsg page (seed 004: 'Hyper-V should be notified only once
about a panic. If we will be doing hv_kmsg_dump() ... don't do the notification here')."""

SITUATIONS: tuple[tuple[str, str], ...] = (
    ("kdump loaded or not, crash_kexec_post_notifiers 0/1", "seed 000 (Baoquan He)"),
    ("Hyper-V on x86_64 and arm64, VMbus disk as dump target", "seeds 001, 004"),
    ("hyperv_fb with the VMbus unload", "seed 004 (Kelley on patches 16, 21)"),
    ("Hyper-V with and without the kmsg page (hyperv_record_panic_msg)", "seed 004"),
    ("a host that takes minutes to answer the unload (slow-host)", "seed 001 (Vitaly)"),
    ("bcm_vk doing DMA on x86_64 and arm64 (dma-active)", "seed 002 (Scott Branden)"),
    ("powerpc with fadump", "seed 000 (PowerPC forces post notifiers)"),
    ("MIPS Octeon watchdogs; x86 registers of stopped CPUs", "seed 003 (Problems 1, 2)"),
    ("a CPU deaf to IPIs; a lock held by a CPU that gets stopped", "seeds 001, 004"),
    ("a corrupted notifier list", "seed 000 (Biederman)"),
    ("a callback that never returns", "seed 000 (Piccoli (a))"),
    ("IPMI watchdog and BMC (Kawai's purgatory work)", "seed 003"),
    ("panic_notifiers_level 0..4; panic_notifier_filter", "series patch 24; filter V4"),
)
"""What the default space covers and which seed discusses it (documentation and answers)."""


class SpaceError(ValueError):
    """A space file that cannot be used; str() is the one-line message for the user."""


@dataclass(frozen=True)
class Space:
    """What to enumerate. Empty tuples mean 'all' (arches, hypervisors) or 'the default'
    (faults: no fault then each single fault; driver_sets: OPTIONAL_DRIVER_SETS)."""

    policies: tuple[str, ...]
    arches: tuple[str, ...] = ()
    hypervisors: tuple[str, ...] = ()
    kdump: tuple[bool, ...] = (True, False)
    post_notifiers: tuple[str, ...] = ("0", "1")
    faults: tuple[tuple[str, ...], ...] = ()
    cpus: int = 2
    driver_sets: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = ()
    """Per architecture, the optional driver sets to try (replaces the default's)."""
    params: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Further boot parameters, each with the values to try, crossed with everything."""
    policy_params: bool = True
    """Also explore each policy's own parameters (Policy.param_space)."""
    user_callbacks: tuple[Callback, ...] = ()
    overrides: tuple[tuple[str, str, int], ...] = ()
    """[[placement]] overrides, applied to the policies that have the named list."""
    host_panic_action: str = "shutdown"
    hyperv_params: bool = True
    machine_callbacks: tuple[tuple[str, str, str, Callback], ...] = ()
    """(policy, arch, hypervisor, callback): a callback registered only in that policy's
    configurations on that machine ("" any arch or hypervisor): a `--tree`'s scanned
    callbacks (scan/tree_model.py)."""
    policy_overrides: tuple[tuple[str, tuple[str, str, int]], ...] = ()
    """(policy, (callback, list, priority)): placements in that policy's configurations
    only: a `--tree`'s form of a catalog driver (scan/tree_model.py catalog_placements)."""

    def fault_sets(self) -> tuple[tuple[str, ...], ...]:
        """No fault, then each single fault."""
        if self.faults:
            return self.faults
        return ((), *((f,) for f in FAULTS))

    def sets_for(self, arch: str, hv: str) -> tuple[tuple[str, ...], ...]:
        """The optional driver sets tried on this machine."""
        custom = dict(self.driver_sets)
        sets = custom.get(arch, OPTIONAL_DRIVER_SETS[arch])
        if hv == "hyperv" and arch not in custom:
            sets = (*sets, HYPERV_EXTRA)
        return sets


def _param_variants(space: Space, policy: str, hv: str) -> list[tuple[tuple[str, str], ...]]:
    axes: list[tuple[tuple[str, str], ...]] = [
        tuple(("crash_kexec_post_notifiers", v) for v in space.post_notifiers)]
    own = POLICIES[policy].param_space if space.policy_params else ()
    for name, values in (*own, *space.params):
        owners = param_owners(name)
        if owners and policy not in owners:
            continue  # a proposal's own parameter: the other policies have no such axis
        axes.append(tuple((name, v) for v in values))
    variants = [tuple(p) for p in itertools.product(*axes)]
    if hv == "hyperv" and space.hyperv_params:
        variants = [v + extra for v in variants for extra in HYPERV_PARAMS]
    return variants


def _overrides_for(space: Space, policy: str) -> tuple[tuple[str, str, int], ...]:
    lists = (*LISTS, *POLICIES[policy].lists)
    return tuple(o for o in space.overrides if o[1] in lists)


def configurations(space: Space) -> Iterator[Scenario]:
    """Every scenario of the space, policies outermost, in a deterministic order."""
    for policy in space.policies:
        overrides = _overrides_for(space, policy) + tuple(
            o for pol, o in space.policy_overrides if pol == policy)
        for arch, hvs in ARCH_HYPERVISORS.items():
            if space.arches and arch not in space.arches:
                continue
            for hv in hvs:
                if space.hypervisors and hv not in space.hypervisors:
                    continue
                variants = _param_variants(space, policy, hv)
                user = space.user_callbacks + tuple(
                    cb for pol, a, h, cb in space.machine_callbacks
                    if pol == policy and a in ("", arch) and h in ("", hv))
                for drivers in space.sets_for(arch, hv):
                    for kdump in space.kdump:
                        for params in variants:
                            for faults in space.fault_sets():
                                yield Scenario(
                                    policy=policy, arch=arch, hypervisor=hv, kdump=kdump,
                                    params=params, drivers=drivers, faults=faults,
                                    cpus=space.cpus, user_callbacks=user,
                                    overrides=overrides,
                                    host_panic_action=space.host_panic_action,
                                )


def size(scn: Scenario) -> tuple[int, int, int, int]:
    """Order of 'smallest' configurations: fewest faults, fewest drivers, no boot
    parameter changed, kdump before no-kdump."""
    params = sum(1 for k, v in scn.params if v not in ("0", "") or k == "panic_notifiers_level")
    return (len(scn.faults), len(scn.drivers), params, 0 if scn.kdump else 1)


SPACE_KEYS: dict[str, str] = {
    "policies": "a list of policy names",
    "arches": "a list of arch names",
    "hypervisors": "a list of hypervisor names",
    "kdump": "a non-empty list of true/false",
    "post_notifiers": 'a non-empty list of "0"/"1"',
    "faults": '"none", "single" (default: no fault, then each one), or a list of fault '
              'sets, e.g. [[], ["slow-host"]]; arguments as for run --fault',
    "cpus": "an integer 2..64",
    "driver_sets": "a table: arch = a list of driver lists",
    "params": "a table: boot parameter = a non-empty list of values (see Boot parameters)",
    "policy_params": "true or false: also each policy's own parameter values",
    "callback": "an array of [[callback]] tables (see User callbacks)",
    "placement": "an array of [[placement]] tables: callback, list, priority",
    "host_panic_action": "shutdown, pause or none",
    "hyperv_params": "true or false: Hyper-V with and without hyperv_record_panic_msg",
}
"""The keys of a space file and what each accepts (errors and docs/inputs.md)."""


SINGULAR = {"policies": "policy", "arches": "arch", "hypervisors": "hypervisor",
            "drivers": "driver"}


def _names(where: str, key: str, value: object,
           valid: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SpaceError(f"{where}: {key} must be a list of names; valid: {', '.join(valid)}")
    for v in value:
        if v not in valid:
            raise SpaceError(f"{where}: unknown {SINGULAR.get(key, key)} {v!r}; valid: "
                             f"{', '.join(valid)}")
    return tuple(value)


def space_from_dict(data: dict[str, Any], where: str = "<space>", text: str = "",
                    base: Space | None = None) -> Space:
    """Build a Space from parsed TOML over `base` (default: the default space); errors cite
    `where`, the line of the offending key, what is wrong and what is valid."""
    from panicpath.scenario_file import array_of_tables, placement_entry, user_callbacks

    base = base or Space(policies=tuple(POLICIES))

    def at(key: str | tuple[str | int, ...]) -> str:
        """`where:LINE` of a key (a top-level name or a path such as ("params", "panic")),
        or of the first line holding `key`'s text."""
        line = key_line(text, key if isinstance(key, tuple) else (key,))
        return f"{where}:{line if line is not None else line_of(text, str(key))}"

    def fail(path: Sequence[str | int], msg: str) -> SpaceError:
        return SpaceError(f"{at(tuple(path))}: {msg}")

    for k in data:
        if k not in SPACE_KEYS:
            raise SpaceError(f"{at(k)}: unknown key {k!r}; valid: {', '.join(SPACE_KEYS)}")
    kw: dict[str, Any] = {}
    if "policies" in data:
        kw["policies"] = _names(at("policies"), "policies", data["policies"], list(POLICIES))
    if "arches" in data:
        kw["arches"] = _names(at("arches"), "arches", data["arches"], list(ARCH_HYPERVISORS))
    if "hypervisors" in data:
        kw["hypervisors"] = _names(at("hypervisors"), "hypervisors", data["hypervisors"],
                                   HYPERVISORS)
    if "kdump" in data:
        v = data["kdump"]
        if not isinstance(v, list) or not v or not all(isinstance(x, bool) for x in v):
            raise SpaceError(f"{at('kdump')}: kdump must be a list of true/false, e.g. [true]")
        kw["kdump"] = tuple(v)
    if "post_notifiers" in data:
        v = data["post_notifiers"]
        if not isinstance(v, list) or not v or not all(x in ("0", "1", 0, 1) for x in v):
            raise SpaceError(f"{at('post_notifiers')}: post_notifiers must be a list of "
                             f"\"0\"/\"1\"")
        kw["post_notifiers"] = tuple(str(x) for x in v)
    if "faults" in data:
        kw["faults"] = _fault_sets(at("faults"), data["faults"])
    if "cpus" in data:
        if not isinstance(data["cpus"], int) or isinstance(data["cpus"], bool) \
                or not 2 <= data["cpus"] <= 64:
            raise SpaceError(f"{at('cpus')}: cpus must be an integer 2..64")
        kw["cpus"] = data["cpus"]
    if "driver_sets" in data:
        kw["driver_sets"] = _driver_sets(at("driver_sets"), data["driver_sets"])
    if "params" in data:
        kw["params"] = _params(at, data["params"])
    for key in ("policy_params", "hyperv_params"):
        if key in data:
            if not isinstance(data[key], bool):
                raise SpaceError(f"{at(key)}: {key} must be true or false")
            kw[key] = data[key]
    if "host_panic_action" in data:
        if data["host_panic_action"] not in HOST_PANIC_ACTIONS:
            raise SpaceError(f"{at('host_panic_action')}: unknown host_panic_action "
                             f"{data['host_panic_action']!r}; valid: "
                             f"{', '.join(HOST_PANIC_ACTIONS)}")
        kw["host_panic_action"] = data["host_panic_action"]
    callbacks = user_callbacks(array_of_tables(data, "callback", fail), fail)
    if callbacks:
        kw["user_callbacks"] = callbacks
    policies = kw.get("policies", base.policies)
    kw_overrides = []
    valid_lists = sorted({*LISTS, *(lst for p in policies for lst in POLICIES[p].lists)})
    for i, pl in enumerate(array_of_tables(data, "placement", fail)):
        name, lst, prio = placement_entry(pl, i, callbacks, fail)
        if lst not in valid_lists:
            raise fail(("placement", i, "list"), f"unknown list {lst!r} for the selected "
                                                 f"policies; valid: {', '.join(valid_lists)}")
        kw_overrides.append((name, lst, prio))
    if kw_overrides:
        kw["overrides"] = tuple(kw_overrides)
    current = {f.name: getattr(base, f.name) for f in fields(Space)}
    current.update(kw)
    space = Space(**current)
    _check_values(space, at)
    return space


def _check_values(space: Space, at: Callable[[str | tuple[str | int, ...]], str]) -> None:
    """The declared checks (panicpath.inputs) on every parameter value and fault of the
    space, before anything runs; errors name the file and the line of the value."""
    names = catalog_callback_names() | {c.name for c in space.user_callbacks}
    try:
        for name, values in space.params:
            for v in values:
                check_param_value(name, v, names)
        for fault_set in space.faults:
            for f in fault_set:
                check_fault(f, space.cpus)
    except InputError as e:
        if e.key == "param":
            raise SpaceError(f"{at(('params', e.value.partition('=')[0]))}: {e}") from None
        quoted = f'"{e.value}"'
        raise SpaceError(f"{at(quoted)}: {e}") from None


def _fault_sets(where: str, value: object) -> tuple[tuple[str, ...], ...]:
    if value == "single":
        return ()
    if value == "none":
        return ((),)
    if not isinstance(value, list) or not all(isinstance(s, list) for s in value):
        raise SpaceError(f"{where}: faults must be \"none\", \"single\" or a list of fault "
                         f"sets, e.g. [[], [\"slow-host\"]]")
    out = []
    for s in value:
        for f in s:
            if not isinstance(f, str) or f.partition("=")[0] not in FAULTS:
                raise SpaceError(f"{where}: unknown fault {f!r}; valid: {', '.join(FAULTS)}")
        out.append(tuple(s))
    return tuple(out)


def _driver_sets(where: str, value: object) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    if not isinstance(value, dict):
        raise SpaceError(f"{where}: [driver_sets] must map an arch to a list of driver lists")
    out = []
    for arch, sets in value.items():
        if arch not in ARCHES:
            raise SpaceError(f"{where}: unknown arch {arch!r}; valid: {', '.join(ARCHES)}")
        if not isinstance(sets, list) or not all(isinstance(s, list) for s in sets):
            raise SpaceError(f"{where}: driver_sets.{arch} must be a list of driver lists")
        for s in sets:
            _names(where, "drivers", s, list(DRIVERS))
        out.append((arch, tuple(tuple(s) for s in sets)))
    return tuple(out)


def _params(at: Callable[[str | tuple[str | int, ...]], str],
            value: object) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, dict):
        raise SpaceError(f"{at('params')}: [params] must map a boot parameter to a list of "
                         "values")
    out = []
    for name, values in value.items():
        where = at(("params", name))
        if name not in BOOT_PARAMS:
            raise SpaceError(f"{where}: unknown boot parameter {name!r}; valid: "
                             f"{', '.join(BOOT_PARAMS)}")
        if not isinstance(values, list) or not values or not all(
                isinstance(v, str | int) and not isinstance(v, float) for v in values):
            raise SpaceError(f"{where}: params.{name} must be a non-empty list of values "
                             "(strings, integers or true/false)")
        out.append((name, tuple(("1" if v else "0") if isinstance(v, bool) else str(v)
                                for v in values)))
    return tuple(out)


def load_space(path: str | Path, base: Space | None = None) -> Space:
    """Read a space file (TOML); raise SpaceError with file:line: message."""
    data, text = read_toml(path, SpaceError, "a space file is TOML")
    return space_from_dict(data, str(Path(path)), text, base)


assert all(d in DRIVERS for sets in OPTIONAL_DRIVER_SETS.values() for s in sets for d in s)
