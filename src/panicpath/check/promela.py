"""A second opinion from SPIN: the checker's question as a Promela model, and SPIN's verdict on it.

`promela(q)` writes a Promela model of the same question `panicpath check` answers (issue 5):
for every configuration of the question (`search.configurations`), the machine's boot
state, the registered callbacks and the faults the adversary may apply; then the policy's
program of `panic()` and the property as an assert. The model is generated from *inputs*
only -- the policy's Op list and conditions, the catalog drivers present (their callbacks'
lists, priorities, registration order, needs, effects and boot effects), the architecture
and the boot parameters -- and the mechanics (notifier_chain_register, the stop IPIs, the
crash shutdown, the capture kernel, each need and effect) are written a second time, in
Promela, in `templates/panic.pml.j2`, each construct commented with the kernel function it
models. The Python model (`engine.build` / `execute`) is never run to decide what to emit,
so a bug in one implementation shows up as a disagreement with the other.

`spin_verdict(q, workdir)` runs SPIN for real: ``spin -a``, ``cc -DSAFETY``, ``./pan``.

Supported subset (anything else is refused with `ExportError`, one line): kernel-version
policies whose program uses the steps of `panicpath.model.steps.STEPS` (no proposal with
its own steps, placements, setup or capture hooks); callbacks on panic_notifier_list,
kmsg_dumper and crash_shutdown; every need and effect kind of `model.callback`; the five
architectures; 2..8 CPUs; the boot parameters `configurations()` sets.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jinja2

from panicpath.arch import ARCHES
from panicpath.catalog.base import Driver
from panicpath.check.search import Question, configurations
from panicpath.engine import ScenarioError, select_drivers, validate
from panicpath.faults import FAULTS, HANGING_NOTIFIER, SLOW_HOST_MS
from panicpath.model.callback import EFFECT_KINDS, KMSG_DUMP_REASONS, LISTS, Callback, Effect
from panicpath.model.capture import capture_memory_short, crash_image_fits, hw_watchdog_timeout_s
from panicpath.model.scenario import Scenario
from panicpath.model.steps import PANIC_MSG
from panicpath.policies import POLICIES
from panicpath.policies.base import Policy
from panicpath.properties import PROPERTIES
from panicpath.properties import REPORT_EFFECTS as PROPERTY_REPORT_EFFECTS

HOST_WITHIN_TIMEOUT_MS = 50_000
"""The checker's 'slow but in time' host (search.HOST_WITHIN_TIMEOUT_MS, ~50 s Azure flush)."""

ARCH_CONST = {"x86_64": "A_X86", "arm64": "A_ARM64", "powerpc": "A_PPC",
              "mips-octeon": "A_MIPS", "s390": "A_S390"}
STEP_CALLS = {
    "panic_entry": "panic_entry()",
    "crash_kexec": "crash_kexec()",
    "smp_send_stop": "smp_send_stop()",
    "crash_smp_send_stop": "crash_smp_send_stop()",
    "panic_other_cpus_shutdown": "panic_other_cpus_shutdown()",
    "notifier_chain": "notifier_call_chain()",
    "panic_print_sys_info": "skip /* kernel/panic.c panic_print_sys_info: printing only */",
    "kmsg_dump": "kmsg_dump(K_PANIC)",
    "console_flush_on_panic": "console_flush_on_panic()",
    "panic_timeout": "panic_timeout()",
}
"""The steps of kernel/panic.c the Promela model implements (templates/panic.pml.j2)."""
FEATURES = ("post_notifiers_option", "crash_smp_send_stop", "mips_crash_smp_send_stop",
            "ppc_crash_smp_send_stop", "printk_nmi_deferred", "nbcon_console",
            "console_unblank_flush")
SUPPORTED_PARAMS = frozenset({"crash_kexec_post_notifiers", "crashkernel", "panic",
                              "hyperv_record_panic_msg", "ipmi_msghandler.panic_op",
                              "printk.always_kmsg_dump", "panic_print",
                              "i6300esb.heartbeat"})
OBJECT_ONLY_EFFECTS = frozenset({"kmsg-dump"})
"""Effects only the object engine runs; a question whose callbacks have one is refused."""
REPORT_EFFECTS = PROPERTY_REPORT_EFFECTS
NO_OP_EFFECTS = frozenset({"hv-stimer-cleanup", "hypercall", "mmio", "alloc"})
VICTIM = 1
"""faults.py _victim: the first CPU that is not the panic CPU (CPU 0)."""

PROPERTY_EXPR: dict[str, tuple[str, str]] = {
    "vmcore-captured": ("crash_wanted || has_fadump", "vmcore"),
    "vmcore-intact": ("vmcore", "!vmcore_writes"),
    "vmcore-complete": ("vmcore", "vmcore_saved == NCPU"),
    "dump-target-reachable": ("capture_booted && target_known", "target_ok"),
    "host-informed": ("host_channel", "reports > 0"),
    "logs-persisted": ("crash_wanted || log_sink", "vmcore || persisted"),
    "fb-shows-panic": ("fb_channel", "fb_updated"),
    "watchdog-quiesced": ("watchdogs_at_boot && crash_loaded && capture_booted",
                          "end_kind != E_WDT_RESET && {no_wdt}"),
    "path-bounded": ("true", "end_kind != E_NONE && end_kind != E_HANG && end_ms <= PATH_BOUND_MS"),
    "console-shows-panic": ("true", "console_panic"),
}
"""Each property of properties.py as (applies when, holds when) over the Promela state."""

SPIN_TIMEOUT_S = 600


class ExportError(ValueError):
    """A question outside the supported subset; str() is the one-line reason."""


@dataclass(frozen=True)
class SpinResult:
    """SPIN's answer: whether the assert held in every reachable state, how long spin -a + cc +
    pan took end to end, and how many states pan stored."""

    holds: bool
    seconds: float
    states: int


def _ident(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name)


def _cb_macro(name: str) -> str:
    return f"CB_{_ident(name)}"


def _lock_macro(name: str) -> str:
    return f"L_{_ident(name)}"


def _dev_macro(name: str) -> str:
    return f"D_{_ident(name)}"


def _policy(q: Question, what: str = "the Promela subset") -> Policy:
    if q.policy not in POLICIES:
        raise ExportError(f"unknown policy {q.policy!r}; valid: {', '.join(POLICIES)}")
    p = POLICIES[q.policy]
    if p.steps or p.place is not None or p.setup is not None or p.lists:
        kernels = [n for n, x in POLICIES.items() if not (x.steps or x.place or x.setup or x.lists)]
        raise ExportError(f"policy {q.policy!r} has its own steps or placements, outside "
                          f"{what}; supported: {', '.join(kernels)}")
    for op in p.program:
        if op.step not in STEP_CALLS:
            raise ExportError(f"policy {q.policy!r}: step {op.step!r} not in {what}; "
                              f"supported: {', '.join(STEP_CALLS)}")
    return p


def registered_callbacks(scn: Scenario, policy: Policy) -> list[Callback]:
    """The callbacks the configuration registers at boot, in registration order (catalog
    drivers, then user callbacks; stable by `Callback.order`)."""
    drivers = select_drivers(scn, policy)
    cbs = [c for d in drivers for c in d.callbacks] + list(scn.user_callbacks)
    for cb in cbs:
        if not isinstance(cb, Callback):
            raise ExportError(f"user callback {cb!r} is not a Callback")
        if cb.list not in LISTS:
            raise ExportError(f"callback {cb.name!r} is on list {cb.list!r}; the Promela subset "
                              f"supports {', '.join(LISTS)}")
        for e in cb.effects:
            if e.kind not in EFFECT_KINDS:
                raise ExportError(f"callback {cb.name!r}: effect {e.kind!r} unknown")
            if e.kind in OBJECT_ONLY_EFFECTS:
                raise ExportError(f"callback {cb.name!r}: effect {e.kind!r} (kmsg_dump from "
                                  "inside a notifier) is modelled by the object engine only")
    return sorted(cbs, key=lambda c: c.order)


def locks_of(callbacks: Iterable[Callback]) -> list[str]:
    """Every lock a callback takes (lock, trylock or mutex need), sorted."""
    return sorted({n.arg for cb in callbacks for n in cb.needs
                   if n.kind in ("lock", "trylock", "mutex")})


def promela_alphabet(scn: Scenario, names: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The adversary's faults for this configuration, derived from the registered callbacks
    (faults.py): each lock a callback takes, each callback that may hang plus an extra
    hanging notifier, the host late within or past the unload timeout, each other CPU.
    Independent of `search.fault_alphabet` (which builds the run); a test checks both agree."""
    policy = validate(scn)
    cbs = registered_callbacks(scn, policy)
    seen: set[str] = set()
    uniq = [c for c in cbs if not (c.name in seen or seen.add(c.name))]  # type: ignore[func-returns-value]
    out: list[str] = []
    for name in sorted(FAULTS):
        if names and name not in names:
            continue
        if name == "lock-held-by-stopped-cpu":
            out += [f"{name}={lock}" for lock in locks_of(cbs)]
        elif name == "hanging-callback":
            out += [name] + [f"{name}={c.name}" for c in uniq]
        elif name == "slow-host":
            out += [f"{name}={HOST_WITHIN_TIMEOUT_MS}", name]
        elif FAULTS[name].needs_other_cpu:
            if scn.cpus >= 2:
                out += [name] if scn.cpus == 2 else [f"{name}={c}" for c in range(1, scn.cpus)]
        else:
            out.append(name)
    return tuple(out)


def _effect_line(cb: Callback, e: Effect, devices: dict[str, str]) -> str:
    k = e.kind
    simple = {
        "vmbus-unload": "eff_vmbus_unload()",
        "hv-report-panic": "eff_hv_report_panic()",
        "hv-kmsg-dump": "eff_hv_kmsg_dump()",
        "fb-update": "eff_fb_update()",
        "pvpanic": "eff_pvpanic()",
        "os-term": "eff_os_term()",
        "stop-watchdogs-online": "eff_stop_watchdogs_online()",
        "ipmi-panic": "eff_ipmi_panic()",
        "firmware-dump": "eff_firmware_dump()",
        "xen-panic": "eff_xen_panic()",
        "hang": "eff_end(E_HANG)",
        "reboot": "eff_end(E_REBOOT)",
        "notify-stop": "eff_notify_stop()",
    }
    if k in simple:
        return simple[k]
    if k in NO_OP_EFFECTS:
        return f"skip /* {k}: no state the properties read */"
    if k == "spin":
        return f"eff_spin({int(e.arg)})"
    if k == "print":
        text = e.arg or cb.name
        return "eff_print_panic()" if PANIC_MSG in text else "skip /* printk */"
    if k == "stop-dma":
        return f"eff_stop_dma({devices[e.arg]})"
    if k == "persist-log":
        return f"eff_persist_log({_lock_macro('pstore-buf')})"
    if k == "kvm-pv-off":
        return f"eff_kvm_pv_off({devices['kvm-pv-cpu0']})"
    if k == "snp-iommu-shutdown":
        return f"eff_snp_shutdown({devices['snp-iommu']})"
    raise ExportError(f"callback {cb.name!r}: effect {k!r} not in the Promela subset")


def _need_line(cb: Callback, kind: str, arg: str, wait_ms: int = 0) -> str:
    if kind in ("lock", "mutex"):
        return f"need_lock({_lock_macro(arg)})"
    if kind == "trylock" and wait_ms:
        return f"need_trylock_wait({_lock_macro(arg)}, {wait_ms})"
    if kind == "trylock":
        return f"need_trylock({_lock_macro(arg)})"
    lines = {"vmbus": "need_vmbus()", "ipi": "need_ipi()", "host": "need_host()",
             "no-crash-kernel": "need_no_crash_kernel()",
             "other-cpus-online": "skip /* other-cpus-online: declared, not checked */"}
    if kind in lines:
        return lines[kind]
    raise ExportError(f"callback {cb.name!r}: need {kind!r} not in the Promela subset")


def _register_lines(cb: Callback, panic_op_event: bool) -> list[str]:
    """Registration of one callback on its list, and the static facts its effects imply."""
    m = _cb_macro(cb.name)
    kinds = {e.kind for e in cb.effects}
    out: list[str] = []
    if cb.list == "panic_notifier_list":
        out.append(f"notifier_chain_register({m})")
        if "firmware-dump" in kinds:
            out.append("has_fadump = true")
        if "fb-update" in kinds:
            out.append("fb_channel = true")
    elif cb.list == "kmsg_dumper":
        out.append(f"kmsg_dump_register({m})")
        if "hv-kmsg-dump" in kinds:
            out.append("has_hv_page = true")
        if kinds & {"persist-log", "hv-kmsg-dump"}:
            out.append("log_sink = true")
    else:
        out.append(f"crash_shutdown_register({m})")
    if kinds & REPORT_EFFECTS or ("ipmi-panic" in kinds and panic_op_event):
        out.append("host_channel = true")
    return out


def _boot_lines(scn: Scenario, policy: Policy, cbs: list[Callback], devices: dict[str, str],
                panic_op_event: bool) -> list[str]:
    """engine._boot, restated: command line, hypervisor, the drivers' boot effects, then the
    registrations in boot order."""
    arch = ARCHES[scn.arch]
    major, minor = arch.kdump_since
    out = [f"arch = {ARCH_CONST[scn.arch]}",
           f"target_vmbus = {'true' if scn.effective_dump_target == 'vmbus-storage' else 'false'}",
           ("crash_loaded = (POLICY_VERSION >= " + str(major * 100 + minor) + ")")
           if scn.kdump and crash_image_fits(scn) else "crash_loaded = false",
           ("crash_wanted = (POLICY_VERSION >= " + str(major * 100 + minor) + ")")
           if scn.kdump else "crash_wanted = false",
           f"capture_oom = {'true' if capture_memory_short(scn) else 'false'}",
           f"dump_copy = {scn.dump_copy_ms}",
           "post_notifiers = " + ("HAS_POST_OPTION"
                                  if scn.int_param("crash_kexec_post_notifiers", 0) else "false")]
    if scn.hypervisor == "hyperv":
        out.append("vmbus = VB_CONNECTED /* drivers/hv/vmbus_drv.c vmbus_bus_init */")
    if scn.hypervisor == "kvm" and scn.arch == "x86_64":
        out.append(f"dev_present[{devices['kvm-pv-cpu0']}] = true "
                   "/* arch/x86/kernel/kvm.c kvm_guest_cpu_init: PV pages */")
    for d in select_drivers(scn, policy):
        for b in d.boot:
            kind, _, arg = b.partition(":")
            if kind == "force-post-notifiers":
                out.append(f"post_notifiers = post_notifiers || HAS_POST_OPTION /* {d.name} */")
            elif kind == "vmbus-connect":
                out.append("vmbus = VB_CONNECTED")
            elif kind == "dma-device":
                out += [f"dev_present[{devices[arg]}] = true", f"dma_capable[{devices[arg]}] = true"]
            elif kind == "arm-cpu-watchdogs":
                out += [f"wdt[{i}] = true" for i in range(scn.cpus)]
                out.append("watchdogs_at_boot = true")
            elif kind == "arm-bmc-watchdog":
                out += ["bmc_timeout = 10 /* ipmi_watchdog.c default timeout */",
                        "watchdogs_at_boot = true"]
            elif kind == "arm-hw-watchdog":
                t = hw_watchdog_timeout_s(scn, arg) * 1000
                out += [f"hw_wdt = (hw_wdt == NONE || {t} < hw_wdt -> {t} : hw_wdt) /* {arg} */",
                        "watchdogs_at_boot = true"]
            elif kind == "snp-iommu":
                out.append(f"dev_present[{devices['snp-iommu']}] = true")
            else:
                raise ExportError(f"driver {d.name!r}: boot effect {kind!r} not in the subset")
    for cb in cbs:
        out += _register_lines(cb, panic_op_event)
    return out


def _fault_options(scn: Scenario, names: tuple[str, ...]) -> list[dict[str, str]]:
    out = []
    for f in promela_alphabet(scn, names):
        base, _, arg = f.partition("=")
        used = f"u_{_ident(base)}"
        if base in ("concurrent-panic", "ipi-deaf-cpu"):
            cpu = int(arg) if arg else VICTIM
            mode = "M_PANICKING" if base == "concurrent-panic" else "M_SPINNING"
            code = f"mode[{cpu}] = {mode}"
        elif base == "corrupted-notifier-list":
            if arg:
                raise ExportError(f"{base}={arg}: a corrupt next pointer after a given "
                                  "callback is modelled by the object engine only")
            code = "list_corrupt = true"
        elif base == "dma-active":
            code = "fault_dma_active()"
        elif base == "hanging-callback":
            code = (f"hanging[{_cb_macro(arg)}] = true" if arg
                    else f"notifier_chain_register({_cb_macro(HANGING_NOTIFIER)})")
        elif base == "lock-held-by-stopped-cpu":
            code = f"lock_holder[{_lock_macro(arg)}] = {VICTIM}"
        elif base == "nmi-context":
            code = ("console_deferred = (HAS_PRINTK_NMI_DEFERRED && !HAS_NBCON_CONSOLE); "
                    "nmi_blocked[0] = true")
        elif base == "slow-host":
            code = f"latency = {int(arg) if arg else SLOW_HOST_MS}"
        else:
            raise ExportError(f"fault {base!r} not in the Promela subset")
        out.append({"name": f, "guard": f"!{used}", "code": f"{used} = true; {code}",
                    "used": used})
    return out


def hanging_notifier() -> Callback:
    """faults.py _hanging without an argument: an extra priority-0 notifier that never returns."""
    return Callback(name=HANGING_NOTIFIER, list="panic_notifier_list", priority=0,
                    effects=(Effect("hang"),), order=1000,
                    sources=("fault: a notifier that never returns (seed 000, Piccoli (a))",))


def _shared_param(configs: list[Scenario], name: str, default: int) -> int:
    values = {c.int_param(name, default) for c in configs}
    if len(values) > 1:
        raise ExportError(f"boot parameter {name!r} differs between configurations; "
                          "the Promela subset needs one value")
    return values.pop() if values else default


def device_names(machines: Iterable[tuple[Scenario, Iterable[Driver]]],
                 callbacks: Iterable[Callback]) -> list[str]:
    """The devices the model may track, in a fixed order: an anonymous PCIe DMA engine (the
    dma-active fault's default), KVM's per-CPU PV pages on x86 KVM guests, the drivers'
    DMA devices and SNP IOMMU (boot effects), and every device a callback acts on."""
    names = ["pcie-dma"]
    for scn, drivers in machines:
        if scn.hypervisor == "kvm" and scn.arch == "x86_64":
            names.append("kvm-pv-cpu0")
        for d in drivers:
            for b in d.boot:
                kind, _, arg = b.partition(":")
                if kind == "dma-device":
                    names.append(arg)
                elif kind == "snp-iommu":
                    names.append("snp-iommu")
    for cb in callbacks:
        for eff in cb.effects:
            if eff.kind == "stop-dma":
                names.append(eff.arg)
            elif eff.kind == "kvm-pv-off":
                names.append("kvm-pv-cpu0")
            elif eff.kind == "snp-iommu-shutdown":
                names.append("snp-iommu")
    return list(dict.fromkeys(names))


def subset(q: Question, what: str = "the Promela subset") -> tuple[
        Policy, list[Scenario], dict[str, Callback]]:
    """The question's policy, configurations and registered callbacks by name, or ExportError
    (one line naming `what`) when it is outside the subset the Promela export and the fast
    explorer (check/fast_compile.py) share."""
    policy = _policy(q, what)
    if q.prop not in PROPERTIES:
        raise ExportError(f"unknown property {q.prop!r}; valid: {', '.join(PROPERTIES)}")
    if not 2 <= q.cpus <= 8:
        raise ExportError(f"cpus={q.cpus}: {what} supports 2..8 CPUs")
    if not 0 <= q.max_faults <= 8:
        raise ExportError(f"max_faults={q.max_faults}: {what} supports 0..8")
    for f in q.fault_names:
        if f not in FAULTS:
            raise ExportError(f"unknown fault {f!r}; valid: {', '.join(FAULTS)}")
    configs = configurations(q)
    if not configs:
        raise ExportError("the question has no configuration (check --arch/--hypervisor)")
    for scn in configs:
        try:
            validate(scn)
        except ScenarioError as e:
            raise ExportError(str(e)) from None
        for k, _ in scn.params:
            if k not in SUPPORTED_PARAMS:
                raise ExportError(f"boot parameter {k!r} not in {what}; supported: "
                                  f"{', '.join(sorted(SUPPORTED_PARAMS))}")
        if scn.int_param("panic_print", 0) & 0x4:
            raise ExportError("panic_print bit 0x4 (the timer dump and its per-CPU lock, "
                              f"model/steps.py _timer_list) is outside {what}")
        if scn.overrides or scn.dump_target or not scn.platform_drivers:
            raise ExportError("placement overrides, dump targets and platform_drivers=false "
                              f"are outside {what}")
    table: dict[str, Callback] = {}
    for scn in configs:
        for cb in registered_callbacks(scn, policy):
            if cb.name in table and table[cb.name] != cb:
                raise ExportError(f"callback {cb.name!r} differs between configurations")
            table.setdefault(cb.name, cb)
    for name, default in (("panic", 0), ("hyperv_record_panic_msg", 1),
                          ("printk.always_kmsg_dump", 0)):
        _shared_param(configs, name, default)
    if len({c.param("ipmi_msghandler.panic_op", "none") for c in configs}) > 1:
        raise ExportError("ipmi_msghandler.panic_op differs between configurations")
    if len({c.host_panic_action for c in configs}) > 1 or \
            len({c.path_bound_ms for c in configs}) > 1:
        raise ExportError("host panic action or path bound differs between configurations")
    return policy, configs, table


def promela(q: Question) -> str:
    """The Promela model of question `q` (see the module docstring)."""
    policy, configs, table = subset(q)
    regs = [registered_callbacks(scn, policy) for scn in configs]
    table[HANGING_NOTIFIER] = hanging_notifier()
    callbacks = list(table.values())
    lock_names = locks_of(callbacks)
    if any(e.kind == "persist-log" for cb in callbacks for e in cb.effects):
        lock_names = sorted({*lock_names, "pstore-buf"})
    dev_names = device_names([(scn, select_drivers(scn, policy)) for scn in configs], callbacks)
    devices = {n: _dev_macro(n) for n in dev_names}
    panic_timeout = _shared_param(configs, "panic", 0)
    panic_op = {c.param("ipmi_msghandler.panic_op", "none") for c in configs}
    if len(panic_op) > 1:
        raise ExportError("ipmi_msghandler.panic_op differs between configurations")
    panic_op_event = panic_op.pop() in ("event", "string")
    actions = {c.host_panic_action for c in configs}
    bounds = {c.path_bound_ms for c in configs}
    if len(actions) > 1 or len(bounds) > 1:
        raise ExportError("host panic action or path bound differs between configurations")

    cb_rows = []
    for cb in callbacks:
        body = [_need_line(cb, n.kind, n.arg, n.wait_ms) for n in cb.needs]
        body += [_effect_line(cb, e, devices) for e in cb.effects]
        cb_rows.append({"name": cb.name, "macro": _cb_macro(cb.name),
                        "source": cb.source.replace("*/", "* /"), "body": body})
    wdt_stoppers = [_cb_macro(cb.name) for cb in callbacks
                    if any(e.kind == "stop-watchdogs-online" for e in cb.effects)]
    init = [f"online[{i}] = true; apic[{i}] = true" for i in range(q.cpus)]
    init += [f"lock_holder[{i}] = NOLOCK" for i in range(max(1, len(lock_names)))]
    init += [f"cb_prio[{_cb_macro(cb.name)}] = {_c_int(cb.priority)}; "
             f"cb_maxr[{_cb_macro(cb.name)}] = {KMSG_DUMP_REASONS[cb.max_reason]}"
             for cb in callbacks]
    cfg_rows = []
    used: list[str] = []
    for scn, cbs in zip(configs, regs, strict=True):
        faults = _fault_options(scn, q.fault_names)
        used += [f["used"] for f in faults]
        label = (f"{scn.arch} hv={scn.hypervisor} kdump={scn.kdump} "
                 f"drivers={','.join(scn.drivers) or '-'} "
                 f"{' '.join(f'{k}={v}' for k, v in scn.params)}")
        cfg_rows.append({"label": label, "faults": faults,
                         "boot": _boot_lines(scn, policy, cbs, devices, panic_op_event)})
    applicable, holds = PROPERTY_EXPR[q.prop]
    holds = holds.format(no_wdt=" && ".join(f"!wdt[{i}]" for i in range(q.cpus)))
    program = []
    for op in policy.program:
        guard = {"": "", "post": " && post_snap", "!post": " && !post_snap"}[op.when]
        program.append({"text": f"{op.step}" + (f" (when {op.when})" if op.when else ""),
                        "guard": guard, "call": STEP_CALLS[op.step]})
    features = {f: int(f in policy.features) for f in FEATURES}
    env = jinja2.Environment(loader=jinja2.PackageLoader("panicpath.check", "templates"),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             autoescape=False)
    return env.get_template("panic.pml.j2").render(
        title=f"panicpath: can {q.prop} fail for {q.policy}?",
        policy=q.policy, policy_title=policy.title, prop=q.prop,
        prop_doc=PROPERTIES[q.prop].doc, max_faults=q.max_faults, nconfigs=len(configs),
        ncpu=q.cpus, ncb=len(callbacks), nlock=max(1, len(lock_names)), ndev=len(dev_names),
        version=policy.version[0] * 100 + policy.version[1],
        f=features,
        panic_timeout=panic_timeout,
        record_panic_msg=_shared_param(configs, "hyperv_record_panic_msg", 1),
        panic_op_event=int(panic_op_event),
        always_kmsg_dump=_shared_param(configs, "printk.always_kmsg_dump", 0),
        host_stops=int(actions.pop() in ("shutdown", "pause")),
        path_bound_ms=bounds.pop(),
        devices=[{"macro": devices[n], "name": n} for n in dev_names],
        pv_expr=" || ".join(f"d == {devices[n]}" for n in dev_names
                            if n.startswith("kvm-pv-cpu")) or "false",
        locks=[{"macro": _lock_macro(n), "name": n} for n in lock_names],
        callbacks=cb_rows,
        wdt_stopper_expr=" || ".join(f"id == {m}" for m in wdt_stoppers) or "false",
        used=sorted(set(used)),
        snp_expr=f"dev_present[{devices['snp-iommu']}]" if "snp-iommu" in devices else "false",
        arches=sorted({scn.arch for scn in configs}),
        program=program,
        configs=cfg_rows,
        init=init,
        applicable=applicable,
        holds=holds,
    )


def _c_int(v: int) -> str:
    """A 32-bit int literal SPIN's C back end accepts (INT_MIN as an expression)."""
    if v == -(2**31):
        return "(-2147483647 - 1)"
    return str(v)


class SpinError(RuntimeError):
    """spin, cc or pan failed; the message carries the tool's output."""


def _run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=SPIN_TIMEOUT_S,
                          check=False)
    if proc.returncode != 0:
        raise SpinError(f"{' '.join(cmd)} failed ({proc.returncode}): "
                        f"{(proc.stdout + proc.stderr).strip()[-2000:]}")
    return proc.stdout


def parse_pan(output: str) -> tuple[int, int]:
    """(errors, states stored) from pan's report ("State-vector ... errors: N", "N states,
    stored")."""
    err = re.search(r"errors:\s*(\d+)", output)
    states = re.search(r"(\d+(?:e\+\d+)?)\s+states, stored", output)
    if err is None or states is None:
        raise SpinError(f"pan's report not understood: {output.strip()[-500:]}")
    return int(err.group(1)), int(float(states.group(1)))


def spin_verdict(q: Question, workdir: Path) -> SpinResult:
    """Export `q`, then ``spin -a model.pml``, ``cc -O0 -DSAFETY -o pan pan.c``, ``./pan``; the
    property holds when pan reports no error. `seconds` covers the three tools end to end
    (not the export). ``-O0``: these state spaces are small (pan runs in milliseconds)
    and gcc needs ~3 s for the ~400 KB pan.c at -O0 against ~10x that at -O2, so -O0 is
    the fastest SPIN end to end, the fair peer for benchmarks/bench_check.py."""
    for tool in ("spin", "cc"):
        if shutil.which(tool) is None:
            raise SpinError(f"{tool} not found (Debian packages spin, gcc: "
                            "scripts/install-deps.sh)")
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "model.pml").write_text(promela(q), encoding="utf-8")
    t0 = time.perf_counter()
    _run(["spin", "-a", "model.pml"], workdir)
    _run(["cc", "-O0", "-DSAFETY", "-DNOCLAIM", "-o", "pan", "pan.c"], workdir)
    out = _run(["./pan", "-m100000", "-w20"], workdir)
    seconds = time.perf_counter() - t0
    errors, states = parse_pan(out)
    if "max search depth too small" in out:
        raise SpinError("pan: max search depth too small (-m)")
    return SpinResult(holds=errors == 0, seconds=seconds, states=states)


__all__ = [
    "ExportError",
    "SpinError",
    "SpinResult",
    "device_names",
    "promela",
    "promela_alphabet",
    "spin_verdict",
    "subset",
]
