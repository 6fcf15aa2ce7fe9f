"""Properties: predicates over the final state and the trace. Measures: counts before kdump.

Each property returns True/False, or None where it does not apply to the
configuration (e.g. `vmcore-intact` when no vmcore exists); the report shows
not-applicable as holding and lists it separately.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from panicpath.model.run import Run


@dataclass(frozen=True)
class Property:
    """A property by its fixed name."""

    name: str
    doc: str
    check: Callable[[Run], bool | None]


def _captured(run: Run) -> bool | None:
    m = run.machine
    firmware = any(e.kind == "firmware-dump" for cb in run.notifiers for e in cb.effects)
    if not m.crash_image_wanted and not firmware:
        return None
    return m.vmcore is not None


def _intact(run: Run) -> bool | None:
    core = run.machine.vmcore
    if core is None:
        return None
    return not core["writes_after_crash"]


def _complete(run: Run) -> bool | None:
    core = run.machine.vmcore
    if core is None:
        return None
    saved = core["cpus_saved"]
    assert isinstance(saved, list)
    return len(saved) == len(run.machine.cpus)


def _target(run: Run) -> bool | None:
    m = run.machine
    if not m.capture_booted or m.dump_target_reachable is None:
        return None
    return m.dump_target_reachable


REPORT_EFFECTS = frozenset({"hv-report-panic", "hv-kmsg-dump", "pvpanic", "xen-panic",
                            "os-term"})
"""Effects that tell the host of the panic: with one registered, host-informed applies (the
Promela export and the fast explorer read this set too)."""


def _host_channel(run: Run) -> bool:
    cbs = [*run.notifiers, *run.dumpers, *run.crash_shutdown,
           *(cb for lst in run.extra_lists.values() for cb in lst)]
    if any(e.kind in REPORT_EFFECTS for cb in cbs for e in cb.effects):
        return True
    op = run.scenario.param("ipmi_msghandler.panic_op", "none")
    return op in ("event", "string") and any(
        e.kind == "ipmi-panic" for cb in cbs for e in cb.effects)


def _host_informed(run: Run) -> bool | None:
    if not _host_channel(run):
        return None
    return bool(run.machine.host.reports)


def _logs(run: Run) -> bool | None:
    m = run.machine
    has_sink = m.crash_image_wanted or any(
        e.kind in ("persist-log", "hv-kmsg-dump") for cb in run.dumpers for e in cb.effects)
    if not has_sink:
        return None
    return m.vmcore is not None or bool(m.persisted_logs)


def _fb(run: Run) -> bool | None:
    cbs = [*run.notifiers, *(cb for lst in run.extra_lists.values() for cb in lst)]
    if not any(e.kind == "fb-update" for cb in cbs for e in cb.effects):
        return None
    return bool(run.machine.host.fb_updates)


def _watchdog(run: Run) -> bool | None:
    """Only about the dump: a path that never reached the capture kernel (a hang, a reboot)
    makes no dump for a watchdog to interrupt, so the property does not apply."""
    if not run.watchdogs_at_boot or not run.machine.crash_image_loaded:
        return None
    m = run.machine
    if not m.capture_booted:
        return None
    return m.end != "watchdog-reset" and not any(c.watchdog_armed for c in m.cpus)


def _bounded(run: Run) -> bool | None:
    m = run.machine
    return m.end not in (None, "hang") and m.end_ms <= run.scenario.path_bound_ms


def _console(run: Run) -> bool | None:
    return any("Kernel panic - not syncing" in line for line in run.machine.console)


PROPERTIES: dict[str, Property] = {p.name: p for p in (
    Property("vmcore-captured", "The capture kernel (or firmware) wrote a vmcore.", _captured),
    Property("vmcore-intact", "No memory the dump reads changed after the crash point "
             "(DMA, a CPU still running, a host writing PV pages).", _intact),
    Property("vmcore-complete", "Every CPU's registers were saved for the dump.", _complete),
    Property("dump-target-reachable", "The capture kernel can use its dump device (a VMbus "
             "disk needs the VMbus unloaded first).", _target),
    Property("host-informed", "The host/hypervisor/BMC learned of the panic (crash MSRs, "
             "kmsg page, pvpanic, SEL).", _host_informed),
    Property("logs-persisted", "A copy of the panic log survives: in the vmcore or stored by a "
             "kmsg dumper.", _logs),
    Property("fb-shows-panic", "The host got the framebuffer update showing the panic.", _fb),
    Property("watchdog-quiesced", "With a crash kernel loaded, no watchdog is left armed to "
             "reset the machine during the dump.", _watchdog),
    Property("path-bounded", "The panic path ends (capture kernel, reboot, halt loop) within "
             "the bound.", _bounded),
    Property("console-shows-panic", "The panic message reached the console.", _console),
)}

MEASURES = ("callbacks-before-kdump", "risky-operations-before-kdump")


def measures(run: Run) -> dict[str, int]:
    """How much ran before kdump took over, and how much of it was risky."""
    m = run.machine
    return {
        "callbacks-before-kdump": len(m.callbacks_before_kdump),
        "risky-operations-before-kdump": len(m.risky_ops_before_kdump),
    }
