"""Hyper-V: VMbus unload, panic report, kmsg dump to the host, crash shutdown, framebuffer.

All from Linux 6.1.192 (drivers/hv/, drivers/video/fbdev/hyperv_fb.c,
arch/x86/kernel/cpu/mshyperv.c); mainline differs where noted. The 6.1 layout is
the merged part of Piccoli's 2022 "Hyper-V notifier untangle" (seed 004, patch 16
as merged): the unload notifier at INT_MIN + 1 without the kexec_crash_loaded()
test of the posted patch, hyperv_fb at INT_MIN + 10 so it runs first.
"""

from panicpath.catalog.base import Driver, cb
from panicpath.model.callback import INT_MIN

HYPERV = ("hyperv",)

VMBUS_UNLOAD_OLD = Driver(
    name="hyperv-vmbus-unload",
    callbacks=(cb(
        "hyperv-vmbus-unload", "panic_notifier_list", 0,
        effects=("vmbus-unload", "hv-report-panic"), order=20, risky=("wrmsr",),
        sources=("drivers/hv/vmbus_drv.c hyperv_panic_event, priority 0: vmbus_initiate_unload "
                 "then the crash-MSR report (74347a99e73a, v5.7 .. v6.1)",),
        doc="One notifier for both the unload and the report, before the v6.2 untangle.",
    ),),
    hypervisors=HYPERV,
    since=(5, 7),
)

VMBUS_UNLOAD = Driver(
    name="hyperv-vmbus-unload",
    callbacks=(cb(
        "hyperv-vmbus-unload", "panic_notifier_list", INT_MIN + 1,
        effects=("vmbus-unload",), order=20,
        sources=("drivers/hv/vmbus_drv.c hv_panic_vmbus_unload, INT_MIN + 1 (6.1.192, mainline)",
                 "drivers/hv/channel_mgmt.c vmbus_initiate_unload / vmbus_wait_for_unload",
                 "mainline differs: drivers/hv/vmbus_drv.c hv_panic_vmbus_unload returns early when "
                 "vmbus_set_skip_unload() was called (release not verified; not modelled)"),
        doc="Unloads the VMbus connection so the kdump kernel can connect again; waits for "
            "the host up to 100 s.",
    ),),
    hypervisors=HYPERV,
    platform=True,
    since=(6, 2),
    older=(VMBUS_UNLOAD_OLD,),
    doc="d786e00d19f9 (v6.2; in Debian 6.1.192 as a 6.1.y backport). From v5.7 to v6.1 the "
        "unload was part of hyperv_panic_event at priority 0; before v5.7 (74347a99e73a) no "
        "panic notifier unloaded VMbus.",
)

REPORT_PANIC_FORCING = Driver(
    name="hyperv-report-panic",
    callbacks=(),
    boot=("force-post-notifiers",),
    hypervisors=HYPERV,
    platform=True,
    since=(5, 7),
    doc="a11589563e96 (v5.7): ms_hyperv_init_platform forces crash_kexec_post_notifiers when "
        "the crash MSRs are offered; the report itself is done by hyperv_panic_event "
        "(the older form of hyperv-vmbus-unload).",
)

REPORT_PANIC_OLD = Driver(
    name="hyperv-report-panic",
    callbacks=(cb(
        "hyperv-report-panic", "panic_notifier_list", 0, effects=("hv-report-panic",), order=21,
        risky=("wrmsr",),
        sources=("drivers/hv/vmbus_drv.c hyperv_panic_event (crash-MSR report only, before "
                 "74347a99e73a) [I on the first release]",),
    ),),
    hypervisors=HYPERV,
    platform=True,
    since=(4, 3),
)

REPORT_PANIC = Driver(
    name="hyperv-report-panic",
    callbacks=(cb(
        "hyperv-report-panic", "panic_notifier_list", 0,
        effects=("hv-report-panic",), order=21, forces_post_notifiers=True,
        risky=("wrmsr",),
        sources=("drivers/hv/hv_common.c hv_die_panic_notify_crash via hyperv_panic_report_block,"
                 " registered in hv_common_init (6.1.192)",
                 "arch/x86/hyperv/hv_init.c hyperv_report_panic (report once)"),
        doc="Reports the panic through the crash MSRs unless the kmsg dumper will.",
    ),),
    boot=("force-post-notifiers",),
    hypervisors=HYPERV,
    platform=True,
    since=(6, 2),
    older=(REPORT_PANIC_FORCING, REPORT_PANIC_OLD),
    doc="hv_common_init sets crash_kexec_post_notifiers when the host offers the crash MSRs "
        "(HV_FEATURE_GUEST_CRASH_MSR_AVAILABLE): drivers/hv/hv_common.c (6.1.192, mainline).",
)

KMSG_DUMP = Driver(
    name="hyperv-kmsg-dump",
    callbacks=(cb(
        "hyperv-kmsg-dump", "kmsg_dumper", effects=("hv-kmsg-dump",), order=22,
        risky=("wrmsr",),
        sources=("drivers/hv/hv_common.c hv_kmsg_dump, hv_kmsg_dump_register (6.1.192)",),
        doc="Hands the log tail to the host in one page (CRASH_NOTIFY_MSG).",
    ),),
    hypervisors=HYPERV,
    platform=True,
    since=(4, 19),
)

CRASH_SHUTDOWN = Driver(
    name="hyperv-crash-shutdown",
    callbacks=(cb(
        "hyperv-crash-shutdown", "crash_shutdown",
        effects=("vmbus-unload", "hv-stimer-cleanup"), order=23,
        sources=("arch/x86/kernel/cpu/mshyperv.c hv_machine_crash_shutdown (6.1.192)",
                 "drivers/hv/vmbus_drv.c hv_crash_handler"),
        doc="x86 only: machine_ops.crash_shutdown runs hv_crash_handler (VMbus unload, "
            "stimer clean-up) before the native shutdown stops the other CPUs.",
    ),),
    archs=("x86_64",),
    hypervisors=HYPERV,
    platform=True,
    since=(4, 3),
)

FRAMEBUFFER_OLD = Driver(
    name="hyperv-fb",
    callbacks=(cb(
        "hyperv-fb", "panic_notifier_list", 0,
        needs=("lock:vmbus-ring", "vmbus"), effects=("fb-update",), order=40,
        sources=("drivers/video/fbdev/hyperv_fb.c hvfb_on_panic, priority 0, the ring-buffer "
                 "spin lock taken unconditionally (before 1d044ca035dc / d786e00d19f9)",),
        doc="Before v6.2: default priority and a plain spin lock (seed 004, Kelley: 'inclined "
            "to take the risk of blocking on that spin lock').",
    ),),
    hypervisors=HYPERV,
    since=(5, 6),
)

FRAMEBUFFER = Driver(
    name="hyperv-fb",
    callbacks=(cb(
        "hyperv-fb", "panic_notifier_list", INT_MIN + 10,
        needs=("trylock:vmbus-ring", "vmbus"), effects=("fb-update",), order=40,
        sources=("drivers/video/fbdev/hyperv_fb.c hvfb_on_panic, priority INT_MIN + 10 "
                 "(6.1.192, mainline)",
                 "drivers/hv/ring_buffer.c hv_ringbuffer_spinlock_busy (6.1.192)"),
        doc="Sends the last framebuffer update to the host over VMbus; must run before "
            "the VMbus unload (seed 004).",
    ),),
    hypervisors=HYPERV,
    since=(6, 2),
    older=(FRAMEBUFFER_OLD,),
)

DRIVERS = (VMBUS_UNLOAD, REPORT_PANIC, KMSG_DUMP, CRASH_SHUTDOWN, FRAMEBUFFER)
