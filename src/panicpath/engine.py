"""Build a run from a scenario and execute the policy's program over it.

The engine only wires things together: it registers callbacks the way the
kernel would at boot, applies faults, runs the ops in order and evaluates the
properties on what is left. It holds no expected outcome.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

from panicpath.arch import ARCHES
from panicpath.catalog import DRIVERS, Driver
from panicpath.faults import FAULTS
from panicpath.inputs import ScenarioError as ScenarioError
from panicpath.inputs import check_fault_in_run, check_scenario
from panicpath.model.callback import LISTS, Callback
from panicpath.model.capture import crash_image_fits, hw_watchdog_timeout_s, reservation_mib
from panicpath.model.notifier import build_chain, build_dumpers
from panicpath.model.run import PathEnd, Run
from panicpath.model.scenario import DUMP_TARGETS, HOST_PANIC_ACTIONS, HYPERVISORS, Scenario
from panicpath.model.state import Cpu, Device, Machine, VmbusState
from panicpath.model.steps import HRTIMER_LOCK, STEPS
from panicpath.model.trace import TraceEvent
from panicpath.policies import POLICIES
from panicpath.policies.base import Policy
from panicpath.properties import PROPERTIES, measures


@dataclass(frozen=True)
class RunResult:
    """The outcome of one run: the trace, the properties, the measures, how it ended."""

    scenario: Scenario
    trace: tuple[TraceEvent, ...]
    properties: dict[str, bool]
    applicable: dict[str, bool]
    measures: dict[str, int]
    end: str
    end_reason: str
    drivers: tuple[str, ...]
    failed_callbacks: tuple[str, ...]
    ran_callbacks: tuple[str, ...]
    console: tuple[str, ...]
    host_reports: tuple[str, ...]
    pvpanic_events: tuple[str, ...]
    persisted_logs: tuple[str, ...]
    console_ms: tuple[int, ...] = ()
    """When each console line was printed (simulated ms), in step with `console`."""

    def to_json(self) -> dict[str, object]:
        """The JSON object of `panicpath run --json`."""
        s = self.scenario
        return {
            "scenario": {
                "policy": s.policy, "arch": s.arch, "hypervisor": s.hypervisor,
                "kdump": s.kdump, "params": dict(s.params), "drivers": list(self.drivers),
                "faults": list(s.faults), "cpus": s.cpus,
            },
            "trace": [e.to_json() for e in self.trace],
            "properties": {k: v if self.applicable[k] else None
                           for k, v in self.properties.items()},
            "not_applicable": sorted(k for k, v in self.applicable.items() if not v),
            "measures": self.measures,
            "end": self.end,
            "end_reason": self.end_reason,
            "failed_callbacks": list(self.failed_callbacks),
            "host_reports": list(self.host_reports),
            "pvpanic_events": list(self.pvpanic_events),
            "persisted_logs": list(self.persisted_logs),
            "console": list(self.console),
        }


def validate(scn: Scenario) -> Policy:
    """Refuse names that do not exist, with the list of valid ones (each error carries the
    scenario-file key it is about, for the file's line)."""
    if scn.policy not in POLICIES:
        raise ScenarioError(f"unknown policy {scn.policy!r}; valid: {', '.join(POLICIES)}",
                            ("policy",))
    if scn.arch not in ARCHES:
        raise ScenarioError(f"unknown arch {scn.arch!r}; valid: {', '.join(ARCHES)}", ("arch",))
    if scn.hypervisor not in HYPERVISORS:
        raise ScenarioError(
            f"unknown hypervisor {scn.hypervisor!r}; valid: {', '.join(HYPERVISORS)}",
            ("hypervisor",))
    for d in scn.drivers:
        if d not in DRIVERS:
            raise ScenarioError(f"unknown driver {d!r}; valid: {', '.join(DRIVERS)}",
                                ("drivers",))
    if not 1 <= scn.cpus <= 64:
        raise ScenarioError(f"cpus={scn.cpus} out of range 1..64", ("cpus",))
    check_scenario(scn)
    policy = POLICIES[scn.policy]
    lists = (*LISTS, *policy.lists)
    for i, (name, lst, _) in enumerate(scn.overrides):
        if lst not in lists:
            raise ScenarioError(f"placement of {name!r}: unknown list {lst!r} for policy "
                                f"{policy.name}; valid: {', '.join(lists)}",
                                ("placement", i, "list"))
    if scn.dump_target and scn.dump_target not in DUMP_TARGETS:
        raise ScenarioError(f"unknown dump target {scn.dump_target!r}; valid: "
                            f"{', '.join(DUMP_TARGETS)}", ("dump_target",))
    if not 1 <= scn.path_bound_ms <= 86_400_000:
        raise ScenarioError(f"path_bound_ms={scn.path_bound_ms} out of range 1..86400000",
                            ("path_bound_ms",))
    if scn.host_panic_action not in HOST_PANIC_ACTIONS:
        raise ScenarioError(f"unknown host panic action {scn.host_panic_action!r}; valid: "
                            f"{', '.join(HOST_PANIC_ACTIONS)}", ("host_panic_action",))
    return policy


def select_drivers(scn: Scenario, policy: Policy) -> list[Driver]:
    """The platform's own drivers plus the named ones (and what they require), in catalog
    order, minus those that cannot exist on this machine or in this kernel version."""
    return list(_select_drivers(scn.platform_drivers, scn.drivers,
                                scn.kernel_version or policy.drivers_version,
                                scn.arch, scn.hypervisor))


@functools.lru_cache(maxsize=4096)
def _select_drivers(platform: bool, named: tuple[str, ...], version: tuple[int, int],
                    arch: str, hypervisor: str) -> tuple[Driver, ...]:
    """`select_drivers` over hashable inputs, memoised: the checker builds the same machine
    once per fault set."""
    names: list[str] = []
    if platform:
        names += [d.name for d in DRIVERS.values() if d.platform]
    names += list(named)
    out: list[Driver] = []
    seen: set[str] = set()
    queue = list(names)
    while queue:
        n = queue.pop(0)
        if n in seen:
            continue
        seen.add(n)
        d = DRIVERS[n]
        queue += list(d.requires)
        form = d.for_version(version)
        if form is not None and form.fits(arch, hypervisor):
            out.append(form)
    order = list(DRIVERS)
    return tuple(sorted(out, key=lambda d: order.index(d.name)))


def build(scn: Scenario) -> Run:
    """Boot the machine: registrations, boot-time effects, faults. Nothing has panicked yet."""
    policy = validate(scn)
    arch = ARCHES[scn.arch]
    machine = Machine(cpus=[Cpu(i) for i in range(scn.cpus)], panic_cpu=0)
    run = Run(scenario=scn, policy=policy, arch=arch, machine=machine)
    drivers = select_drivers(scn, policy)
    run.drivers = tuple(d.name for d in drivers)
    callbacks: list[Callback] = [c for d in drivers for c in d.callbacks]
    callbacks += list(scn.user_callbacks)
    placed: list[Callback] = []
    for cb in callbacks:
        if policy.place is None:
            placed.append(cb)
            continue
        moved = policy.place(cb, run)
        if isinstance(moved, tuple):
            placed.extend(moved)
        elif moved is not None:
            placed.append(moved)
    for name, lst, prio in scn.overrides:
        placed = [replace(c, list=lst, priority=prio) if c.name == name else c for c in placed]
    run.notifiers = build_chain(c for c in placed if c.list == "panic_notifier_list")
    run.dumpers = build_dumpers(c for c in placed if c.list == "kmsg_dumper")
    run.crash_shutdown = tuple(sorted((c for c in placed if c.list == "crash_shutdown"),
                                      key=lambda c: c.order))
    extra: dict[str, list[Callback]] = {}
    for c in placed:
        if c.list not in ("panic_notifier_list", "kmsg_dumper", "crash_shutdown"):
            extra.setdefault(c.list, []).append(c)
    run.extra_lists = {k: build_chain(v) for k, v in extra.items()}
    _boot(run, drivers, placed)
    if policy.setup is not None:
        policy.setup(run)
    for f in scn.faults:
        check_fault_in_run(f, run)
    for f in scn.faults:
        name, _, arg = f.partition("=")
        FAULTS[name].apply(run, arg)
        run.emit(name, "fault", FAULTS[name].doc.split(":")[0].split(" (")[0], "fault injection")
    return run


def _boot(run: Run, drivers: list[Driver], callbacks: list[Callback]) -> None:
    """Boot-time effects of the drivers and the command line."""
    m = run.machine
    scn = run.scenario
    post_param = scn.int_param("crash_kexec_post_notifiers", 0)
    if post_param and not run.has("post_notifiers_option"):
        run.emit("crash_kexec_post_notifiers", "step",
                 "unknown parameter in this kernel: ignored", "kernel/panic.c")
        post_param = 0
    m.post_notifiers = bool(post_param)
    kdump_ok = run.policy.version >= run.arch.kdump_since
    fits = crash_image_fits(scn)
    m.crash_image_loaded = scn.kdump and kdump_ok and fits
    m.crash_image_wanted = scn.kdump and kdump_ok
    if scn.kdump and not kdump_ok:
        run.emit("kexec_load", "step", f"{scn.arch} has no kdump before "
                 f"{run.arch.kdump_since[0]}.{run.arch.kdump_since[1]}: no crash kernel",
                 "arch Kconfig")
    elif scn.kdump and not fits:
        run.emit("kexec_load", "step", f"the crash image needs {scn.capture_needs_mib[0]}M, "
                 f"crashkernel={reservation_mib(scn)}M: not loaded",
                 "kexec-tools kexec/kexec.c locate_hole")
    if scn.hypervisor == "hyperv":
        # drivers/hv/vmbus_drv.c vmbus_bus_init -> vmbus_connect: a Hyper-V guest's
        # devices (disk, network, framebuffer) all sit on VMbus.
        m.vmbus = VmbusState.CONNECTED
    if scn.hypervisor == "kvm" and scn.arch == "x86_64":
        # arch/x86/kernel/kvm.c kvm_guest_cpu_init: steal time, PV EOI and async PF pages
        # that the host keeps writing until kvm_guest_cpu_offline() turns them off.
        m.devices[f"kvm-pv-cpu{m.panic_cpu}"] = Device(f"kvm-pv-cpu{m.panic_cpu}")
    dma: set[str] = set()
    for d in drivers:
        for b in d.boot:
            kind, _, arg = b.partition(":")
            if kind == "force-post-notifiers" and run.has("post_notifiers_option"):
                m.post_notifiers = True
                run.emit(d.name, "step", "sets crash_kexec_post_notifiers at boot",
                         d.callbacks[0].source if d.callbacks else d.doc)
            elif kind == "vmbus-connect":
                m.vmbus = VmbusState.CONNECTED
            elif kind == "dma-device":
                m.devices[arg] = Device(arg)
                dma.add(arg)
            elif kind == "arm-cpu-watchdogs":
                for c in m.cpus:
                    c.watchdog_armed = True
                run.watchdogs_at_boot = True
            elif kind == "arm-bmc-watchdog":
                m.bmc_watchdog_timeout_s = 10
                run.watchdogs_at_boot = True
            elif kind == "arm-hw-watchdog":
                m.hw_watchdogs[arg] = hw_watchdog_timeout_s(scn, arg)
                run.watchdogs_at_boot = True
            elif kind == "snp-iommu":
                m.devices["snp-iommu"] = Device("snp-iommu")
    for cb in callbacks:
        for n in cb.needs:
            if n.kind in ("lock", "trylock", "mutex"):
                m.locks.setdefault(n.arg, None)
    if scn.int_param("panic_print", 0) & 0x4 and any(op.step == "panic_print_sys_info"
                                                     for op in run.policy.program):
        m.locks.setdefault(HRTIMER_LOCK, None)
    run.dma_devices = frozenset(dma)


def execute(run: Run) -> RunResult:
    """Run the policy's program to its end and evaluate every property."""
    m = run.machine
    try:
        for op in run.policy.program:
            if op.when == "post" and not m.post_notifiers_snapshot:
                continue
            if op.when == "!post" and m.post_notifiers_snapshot:
                continue
            step = run.policy.steps.get(op.step) or STEPS[op.step]
            step(run)
        raise run.end("halt-loop", "program finished")
    except PathEnd:
        pass
    props: dict[str, bool] = {}
    applicable: dict[str, bool] = {}
    for name, prop in PROPERTIES.items():
        value = prop.check(run)
        applicable[name] = value is not None
        props[name] = True if value is None else value
    return RunResult(
        scenario=run.scenario,
        trace=tuple(run.trace),
        properties=props,
        applicable=applicable,
        measures=measures(run),
        end=m.end or "",
        end_reason=m.end_reason,
        drivers=run.drivers,
        failed_callbacks=tuple(run.failed_callbacks),
        ran_callbacks=tuple(run.ran_callbacks),
        console=tuple(m.console),
        host_reports=tuple(m.host.reports),
        pvpanic_events=tuple(m.pvpanic_events),
        persisted_logs=tuple(m.persisted_logs),
        console_ms=tuple(m.console_ms),
    )


def simulate(scn: Scenario) -> RunResult:
    """Build and execute one scenario."""
    return execute(build(scn))
