"""The model's prediction for a lab scenario, as an Observation the lab can diff.

The lab scenario becomes a model run of the kernel-version policy in force for the
guest's release (`linux-6.1` for Debian's 6.1; model_kernel) on the guest's architecture
with no hypervisor (QEMU TCG exposes no paravirtual interface), the probe module's
notifiers and dumpers as user callbacks in their registration order, and `pvpanic`,
`ramoops` and the platform's `dump-kernel-offset` as catalog drivers. The trace is then
read back into the same observable facts the console parser extracts.

The scenario's faults go to the model under the same names and arguments, CPU
ids as the guest numbers them (the model's panic CPU 0 is the guest's trigger
CPU; a fault without a CPU acts on CPU 1 in both). Two differ in what the bare
name means: the lab's ``lock-held-by-stopped-cpu`` holds only the probe's lock,
so the model gets ``=probe_lock`` (without an argument the model would also hold
the locks of the platform's steps); ``corrupted-notifier-list`` corrupts the next pointer
of the probe's first notifier, so the model gets ``=NAME`` of that notifier (the chain
runs up to it, kernel/notifier.c notifier_call_chain); and ``nmi-context`` is the NMI
trigger, which adds it anyway. The lab's ``dma-active`` is not a device: it is the probe's
kthread on CPU 1 writing a page from load time (templates/probe.c.j2 probe_victim), so the
model gets no device (its ``dma-active`` makes a DMA engine that no CPU stop reaches, which
the guest does not have) and runs CPU 1 as what it is, a CPU executing old-kernel code
until the panic path stops it (model/capture.py counts a CPU still RUNNING at the
handover as writing memory under the dump); ``faults_armed`` still lists it. The lab's
bound on the panic path is its panic phase timeout, so the model's ``path_bound_ms`` is
that timeout and ``hung`` is ``path-bounded`` false.

The vmcore read back (panicpath.lab.vmcore) is predicted from the model's capture: the
CPUs whose registers were saved (``Cpu.regs_saved`` when machine_kexec() handed over,
kept in the model's vmcore as ``cpus_saved``; ``vmcore-complete``) are the NT_PRSTATUS
notes, each with registers; the dma-active page changed between the two reads when the
model's ``vmcore-intact`` is false (something wrote memory after the crash point). A
capture kernel that the model boots and that then fails (``capture-failed``, or a
``watchdog-reset`` during the dump) is the lab's ``crash_kernel_died``.

The reservation: the model takes ``crashkernel=`` as a boot parameter and what the crash
kernel needs of it as ``capture_needs_mib`` (model/capture.py: below the first size kexec
loads nothing, below the second the capture kernel boots and dies out of memory). Those
needs belong to the guest's kernel and the lab's crash initramfs, so the lab measures them
on the kernel (lab/reservation.py, bisection with real cycles, cached) before it runs a
scenario with a small reservation; until measured (a ``--dry-run`` on a fresh cache) the
prediction takes (0, 0), any reservation suffices, and ``predicted_with`` says so with
``capture_needs_mib: [0, 0]``.
"""

from __future__ import annotations

from panicpath.arch.arm64 import FAILED_TO_STOP
from panicpath.engine import RunResult, build, execute, select_drivers
from panicpath.lab.observation import KERNEL_OFFSET, CallbackRun, Observation
from panicpath.lab.reservation import cached_needs
from panicpath.lab.scenario import LabScenario
from panicpath.model.callback import Callback, Effect, Need
from panicpath.model.capture import crash_image_fits
from panicpath.model.scenario import Scenario
from panicpath.model.state import Machine
from panicpath.model.steps import PANIC_MSG
from panicpath.model.trace import TraceEvent
from panicpath.policies import POLICIES, policy_for_release

PROBE_LOCK = "probe_lock"
"""The raw spinlock the probe module's holder kthread keeps (templates/probe.c.j2)."""
CAPTURE_DEATHS = ("capture-failed", "watchdog-reset")
"""Model path ends in which the capture kernel booted and then did not finish
(model/capture.py boot_capture_kernel)."""
LAB_CPU_FAULTS = ("dma-active",)
"""Lab faults that a CPU produces and the model runs as that CPU, not as its fault of the
same name (the probe's dma-active writer is a kthread, templates/probe.c.j2)."""
LAB_DUMP_WORK_MS = 1_000
"""What the crash kernel's /init does after its dump delay and before it reports: the vmcore
headers (0.4 s under TCG, docs/lab.md) and the 0.3 s wait for a PAGE line; the model's dump
takes the scenario's dump_delay_s plus this (Scenario.dump_copy_ms)."""
REASON_STR = {"PANIC": "Panic", "OOPS": "Oops", "EMERG": "Emergency", "SHUTDOWN": "Shutdown"}
"""kernel/printk/printk.c kmsg_dump_reason_str() (6.1)."""


MODEL_ARCH = {"x86_64": "x86_64", "arm64": "arm64", "ppc64el": "powerpc"}
"""The model's architecture for each lab guest architecture (ppc64el is the model's
powerpc: arch/powerpc, little-endian 64-bit)."""


CONSOLE_FLUSHES = frozenset({"console_flush_on_panic", "console_unblank"})
"""Trace events that print every pending line of the log buffer."""


def model_kernel(lab: LabScenario) -> tuple[str, str]:
    """(policy, arch) the model predicts the guest with: the kernel-version policy in force
    for the guest's release (policies.policy_for_release: 5.10 runs linux-5.0, 6.12 and
    7.2 linux-6.6, 7.3 linux-7.3) and the guest's architecture."""
    return policy_for_release(lab.series).name, MODEL_ARCH[lab.arch]


def predicted_with(lab: LabScenario) -> dict[str, object]:
    """``{"policy", "arch", "drivers"}``: what the prediction ran (``lab run --json``)."""
    scn = to_model(lab)
    drivers = [d.name for d in select_drivers(scn, POLICIES[scn.policy])]
    return {"policy": scn.policy, "arch": scn.arch, "drivers": drivers,
            "capture_needs_mib": list(scn.capture_needs_mib)}


def to_model(lab: LabScenario) -> Scenario:
    """The model scenario that corresponds to a lab scenario."""
    callbacks: list[Callback] = []
    uses_lock = False
    for i, n in enumerate(lab.notifiers):
        needs: tuple[Need, ...] = ()
        effects: list[Effect] = [Effect("print", f"LABPANIC notifier {n.name}")]
        if n.behaviour == "stop":
            effects.append(Effect("notify-stop"))
        elif n.behaviour == "spin":
            effects.insert(0, Effect("spin", str(n.spin_ms)))
        elif n.behaviour == "lock":
            # templates/probe.c.j2 probe_take_lock(): raw_spin_lock() when the timeout is
            # 0 (waits forever for a holder that never releases), else raw_spin_trylock()
            # every ms up to the timeout, then gives up: the model's trylock retried for
            # that long (Need.wait_ms; the holder kthread never releases the lock).
            uses_lock = True
            needs = (Need("lock", PROBE_LOCK) if n.lock_timeout_ms == 0
                     else Need("trylock", PROBE_LOCK, n.lock_timeout_ms),)
        callbacks.append(Callback(name=n.name, list="panic_notifier_list", priority=n.priority,
                                  order=100 + i, needs=needs, effects=tuple(effects),
                                  sources=("lab probe module (templates/probe.c.j2)",)))
    for j, d in enumerate(lab.dumpers):
        callbacks.append(Callback(name=d.name, list="kmsg_dumper", order=200 + j,
                                  max_reason="PANIC",
                                  effects=(Effect("print", f"LABPANIC kmsg_dump {d.name}"),),
                                  sources=("lab probe module (templates/probe.c.j2)",)))
    params = [("crash_kexec_post_notifiers", "1" if lab.post_notifiers else "0"),
              ("panic_print", str(lab.panic_print)), ("panic", str(lab.panic_timeout))]
    faults: list[str] = []
    if lab.trigger == "nmi":
        faults.append("nmi-context")
    if uses_lock:
        # the probe's holder keeps probe_lock from the arming on, with or without the
        # fault; a fault with no notifier taking the lock is the guest's alone
        # (faults_armed)
        faults.append(f"lock-held-by-stopped-cpu={PROBE_LOCK}")
    faults += [f for f in lab.faults if f.partition("=")[0] not in (
        "nmi-context", "lock-held-by-stopped-cpu", "corrupted-notifier-list",
        *LAB_CPU_FAULTS)]
    if "corrupted-notifier-list" in lab.faults:
        # the probe overwrites its first [[notifier]]'s next (templates/probe.c.j2)
        faults.append(f"corrupted-notifier-list={lab.notifiers[0].name}")
    drivers = tuple(d for d, on in (("pvpanic", lab.pvpanic), ("ramoops", lab.ramoops),
                                    ("pseries-os-term", lab.arch == "ppc64el"),
                                    (lab.watchdog, lab.watchdog != "none")) if on)
    if lab.watchdog != "none":
        # /init's insmod i6300esb heartbeat=N and the daemon's -T N (templates/init.sh)
        params.append((f"{lab.watchdog}.heartbeat", str(lab.watchdog_timeout_s)))
    action = "shutdown" if lab.panic_action == "exit-failure" else lab.panic_action
    if lab.crash_kernel:
        params.append(("crashkernel", lab.crashkernel_size))
    measured = cached_needs(lab)
    policy, arch = model_kernel(lab)
    return Scenario(policy=policy, arch=arch, hypervisor="none",
                    kdump=lab.crash_kernel, params=tuple(params), drivers=drivers,
                    capture_needs_mib=measured.mib if measured is not None else (0, 0),
                    faults=tuple(faults), user_callbacks=tuple(callbacks), cpus=lab.cpus,
                    host_panic_action=action, name=lab.name,
                    path_bound_ms=int(lab.timeouts.panic * 1000),
                    dump_copy_ms=lab.dump_delay_s * 1000 + LAB_DUMP_WORK_MS,
                    kernel_version=drivers_release(lab))


def drivers_release(lab: LabScenario) -> tuple[int, int]:
    """The release whose driver forms the guest registers: its own (5.10's pvpanic is the
    v5.6 form that reports CRASH_LOADED, not linux-5.0's), or the policy's catalog version
    when that is newer (Debian's 6.1.192 carries the 6.3 forms: linux_6_1.py)."""
    return max(lab.series, POLICIES[model_kernel(lab)[0]].drivers_version)


CALLBACK_KINDS = ("notifier", "kmsg_dumper", "crash_shutdown", "hang")
"""Trace kinds a callback's call emits, at its end (model/effects.py run_callback)."""


def _seen_before(trace: tuple[TraceEvent, ...], cutoff: int) -> int:
    """How many trace entries began by ``cutoff`` ms: a callback's entry is stamped when it
    returns (or is given up as hung), but it began where the entry before it ended, and the
    probe prints its marker first thing (templates/probe.c.j2 probe_mark())."""
    for i, e in enumerate(trace):
        start = trace[i - 1].t_ms if i and e.kind in CALLBACK_KINDS else e.t_ms
        if start > cutoff:
            return i
    return len(trace)


def observation_of(result: RunResult, lab: LabScenario,
                   machine: Machine | None = None,
                   snapshots: list[dict[str, object]] | None = None) -> Observation:
    """Read a model run back into the lab's observable facts (``machine``: the run's
    final state, for the vmcore's saved registers; without it they are not stated;
    ``snapshots``: the machine after each trace entry (Run.snapshots), for whether printk
    reached the console when a probe notifier was entered; without them, whenever the
    panic message did)."""
    probes = {n.name: n.priority for n in lab.notifiers}
    dumper_names = {d.name for d in lab.dumpers}
    loaded = result.scenario.kdump and crash_image_fits(result.scenario)
    # The lab stops a run that makes no progress for its panic phase timeout (the model's
    # path_bound_ms): what the model does after that bound, on a path that crossed it
    # (a lock notifier still retrying, say), happens after QEMU was killed: not observed.
    bounded = result.properties["path-bounded"]
    cutoff = None if bounded else result.scenario.path_bound_ms
    trace = result.trace if cutoff is None else result.trace[:_seen_before(result.trace,
                                                                         cutoff)]
    lines = result.console if cutoff is None else tuple(
        line for line, t in zip(result.console, result.console_ms, strict=True)
        if t <= cutoff)
    handed_over = cutoff is None or any(e.event == "machine_kexec" for e in trace)
    stored_at = next((i for i, e in enumerate(trace)
                      if e.event == "ramoops" and e.kind == "kmsg_dumper"), None)
    in_pstore = "ramoops" in result.persisted_logs and (cutoff is None or stored_at is not None)
    console = "\n".join(lines)

    def seen(text: str, at: int) -> bool:
        """A callback is observable through what it printed: on the console, or in the
        pstore record when ramoops stored one (the log up to ramoops' own dump). In NMI
        context printk is deferred and kexec comes before the flush, so the console shows
        nothing."""
        return text in console or (in_pstore and stored_at is not None and at < stored_at)

    live = PANIC_MSG in console

    def deferred_at(at: int) -> bool:
        """Whether printk only filled the log buffer when trace entry ``at`` began (NMI
        context, powerpc's crash_kexec_prepare(): Machine.console_deferred)."""
        if snapshots is None:
            return not live
        return bool(snapshots[max(at - 1, 0)]["console_deferred"])

    def flushed_after(at: int) -> bool:
        """A console flush the lab saw came later and printed the log: panic()'s
        console_flush_on_panic(), or an oops's console_unblank() (model/steps.py
        oops_console_unblank)."""
        return any(e.event in CONSOLE_FLUSHES for e in trace[at:])

    def logged(at: int) -> bool:
        """Whether a line the kernel prints at trace entry ``at`` is observable: the panic
        CPU's printk reaches the console (the panic message does), or ramoops stored
        the log after it. A probe notifier prints its marker first thing
        (templates/probe.c.j2 probe_mark(), before its behaviour and before a
        hanging-callback fault hangs it), so it is observable once the model entered
        it, whether its lock need then failed or hung it."""
        return (not deferred_at(at) or flushed_after(at)
                or (in_pstore and stored_at is not None and at < stored_at))

    callbacks: list[CallbackRun] = []
    reasons: list[str] = []
    reason = "PANIC"
    stop_nmi = False
    for i, e in enumerate(trace):
        if e.event == "smp_send_stop" and "NMI sent" in e.effect and logged(i):
            # arch/x86/kernel/smp.c native_stop_other_cpus() prints "Shutting down cpus
            # with NMI" when it sends the NMI (the model's x86_64 smp_send_stop effect)
            stop_nmi = True
        elif e.event == "kmsg_dump" and e.kind == "step":
            reason = e.effect.split()[1].rstrip(":")
        elif e.kind in ("notifier", "hang") and e.event in probes and logged(i):
            callbacks.append(CallbackRun(e.event, "notifier", probes[e.event], e.cpu, loaded))
        elif e.kind == "notifier" and e.event == KERNEL_OFFSET and seen("Kernel Offset", i):
            callbacks.append(CallbackRun(KERNEL_OFFSET, "notifier", 0))
        elif e.kind == "kmsg_dumper" and e.event in dumper_names and seen(
                f"LABPANIC kmsg_dump {e.event}", i):
            callbacks.append(CallbackRun(e.event, "kmsg_dumper"))
            reasons.append(REASON_STR[reason])
    log_seen = set(lines)
    panic_print = any(line.startswith("panic_print:") for line in lines) or (
        in_pstore and any(e.event == "panic_print_sys_info" and e.effect != "panic_print=0"
                          for e in trace))
    captured = (result.end == "capture-kernel" and result.properties["vmcore-captured"]
                and handed_over)
    core = machine.vmcore if machine is not None and captured else None
    saved = core.get("cpus_saved") if core is not None else None
    dma = "dma-active" in {f.partition("=")[0] for f in lab.faults}
    return Observation(
        callbacks=tuple(callbacks),
        kernel_offset_printed=any(c.name == KERNEL_OFFSET for c in callbacks),
        panic_print_seen=panic_print,
        kmsg_dump_reasons=tuple(reasons),
        crash_kernel_booted=result.end in ("capture-kernel", *CAPTURE_DEATHS) and handed_over,
        vmcore_seen=captured,
        vmcore_size=None,
        pvpanic_event="PANICKED" if "PANICKED" in result.pvpanic_events else (
            "CRASH_LOADED" if "CRASH_LOADED" in result.pvpanic_events else None),
        panic_text_on_console=any(PANIC_MSG in line for line in log_seen),
        panic_text_in_pstore=in_pstore,
        end_of_panic_reached=any("end Kernel panic" in line for line in log_seen),
        faults_armed=tuple(sorted(({f.partition("=")[0] for f in result.scenario.faults}
                                   | {f for f in lab.faults if f in LAB_CPU_FAULTS}
                                   | {f.partition("=")[0] for f in lab.faults
                                      if f.startswith("lock-held-by-stopped-cpu")})
                                  - {"nmi-context"})),
        hung=not result.properties["path-bounded"],
        stop_needed_nmi=stop_nmi,
        cpus_not_stopped=next((line[len(FAILED_TO_STOP):].strip() for line in lines
                               if line.startswith(FAILED_TO_STOP)), None),
        vmcore_cpus_saved=len(saved) if isinstance(saved, list) else None,
        vmcore_regs_present=(True,) * len(saved) if isinstance(saved, list) else (),
        vmcore_page_changed=(not result.properties["vmcore-intact"]) if dma and captured
        else None,
        crash_kernel_died=result.end in CAPTURE_DEATHS and handed_over,
        crash_kernel_loaded=loaded if lab.crash_kernel else None,
        watchdog_fired=result.end == "watchdog-reset",
    )


def predict(lab: LabScenario) -> Observation:
    """What the model predicts the lab will observe for this scenario."""
    run = build(to_model(lab))
    run.snapshots = []
    return observation_of(execute(run), lab, run.machine, run.snapshots)
