"""rutland-defer: defer the Hyper-V clean-up to the capture kernel (seed 001, Mark Rutland:
"we could have hyperv_init() check is_kdump_kernel() prior to the first hypercall, and do
the cleanup/reset there"; Vitaly Kuznetsov: "In theory yes, it is possible to try sending
CHANNELMSG_UNLOAD on kdump kernel boot and not upon crash").

Starts from linux-6.1. Changes: the crashing kernel no longer unloads the VMbus: the
hv_panic_vmbus_unload notifier is gone and hv_crash_handler (x86 machine_ops) keeps only its
stimer clean-up. The capture kernel, early in its boot (hyperv_init, before the VMbus driver
probes), sees it is a kdump kernel and posts CHANNELMSG_UNLOAD for the old connection; the
host still needs its time to finish it (seed 001: "it was taking *minutes* for the host to
reply"), and the capture kernel waits for it as vmbus_wait_for_unload() does (at most 100 s,
drivers/hv/channel_mgmt.c) before it connects to its VMbus disk (model/capture.py). Hyper-V
keeps forcing crash_kexec_post_notifiers: that is for reporting the panic to the host
(a11589563e96), which this proposal does not touch. Not modelled: whether the host keeps
writing the old ring buffers in the meantime (Rutland's worry that the teardown may need
context from the crashed kernel). Status: not verified (kernel-facts section 9).
"""

from __future__ import annotations

from dataclasses import replace

from panicpath.model.callback import Callback
from panicpath.model.run import Run
from panicpath.model.state import VmbusState
from panicpath.policies.base import Policy
from panicpath.policies.linux_6_1 import FEATURES, PROGRAM
from panicpath.policies.proposals.common import SEED_001, hook

CAPTURE_HV_INIT_MS = 1_000
"""Time from the jump to the capture kernel's hyperv_init() (early arch init, well before
its VMbus driver connects at model.capture.CAPTURE_BOOT_MS) [I]."""
THREAD = ("https://lore.kernel.org/lkml/427a8277-49f0-4317-d6c3-4a15d7070e55@igalia.com/ "
          "(\"Should arm64 have a custom crash shutdown handler?\", May 2022 = seed 001)")


def place(cb: Callback, run: Run) -> Callback | None:
    """No VMbus unload in the crashing kernel."""
    if cb.name == "hyperv-vmbus-unload":
        return None
    if cb.name == "hyperv-crash-shutdown":
        return replace(cb, effects=tuple(e for e in cb.effects if e.kind != "vmbus-unload"))
    return cb


def capture_vmbus_reset(run: Run) -> None:
    """The capture kernel's hyperv_init(): is_kdump_kernel(), so post CHANNELMSG_UNLOAD for
    the connection the crashed kernel left behind (vmbus_initiate_unload's message; the
    host answers after its latency)."""
    m = run.machine
    if m.vmbus is not VmbusState.CONNECTED or m.handover_ms is None:
        return
    posted = m.handover_ms + CAPTURE_HV_INIT_MS
    m.vmbus = VmbusState.DISCONNECTED
    m.host.vmbus_unload_posted_at = posted
    m.host.vmbus_unload_done_at = posted + m.host.latency_ms
    run.emit("hyperv_init", "capture",
             f"is_kdump_kernel(): CHANNELMSG_UNLOAD posted at {posted} ms for the old "
             f"connection; host done at {m.host.vmbus_unload_done_at} ms",
             f"{SEED_001} (Rutland); drivers/hv/channel_mgmt.c vmbus_initiate_unload")


POLICY = Policy(
    name="rutland-defer",
    version=(6, 1),
    title="Rutland: the capture kernel resets the VMbus before its first hypercall",
    program=PROGRAM,
    features=FEATURES,
    sources=(f"{SEED_001}: Mark Rutland and Vitaly Kuznetsov", THREAD),
    doc=__doc__ or "",
    base="linux-6.1",
    kind="proposal",
    catalog_version=(6, 3),
    place=place,
    setup=hook("capture_vmbus_reset", capture_vmbus_reset),
)
