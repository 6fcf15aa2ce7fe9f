"""Device drivers on the panic path: bcm_vk, pvpanic, ipmi, ramoops."""

from panicpath.catalog.base import Driver, cb
from panicpath.model.callback import INT_MAX

BCM_VK = Driver(
    name="bcm-vk",
    callbacks=(cb(
        "bcm-vk", "panic_notifier_list", 0, effects=("stop-dma:bcm-vk", "mmio"), order=40,
        sources=("drivers/misc/bcm-vk/bcm_vk_dev.c bcm_vk_on_panic, vk->panic_nb (6.1.192)",),
        doc="Writes the hard-reset doorbell so the card stops DMA into host memory "
            "(seed 002, Scott Branden).",
    ),),
    boot=("dma-device:bcm-vk",),
    since=(5, 12),
)

PVPANIC_OLD = Driver(
    name="pvpanic",
    callbacks=(cb(
        "pvpanic", "panic_notifier_list", 1, needs=("lock:pvpanic_lock",),
        effects=("pvpanic", "mmio"), order=30,
        sources=("drivers/misc/pvpanic/pvpanic.c pvpanic_panic_notify, priority 1 'before broken "
                 "drm_fb_helper', spin_lock(&pvpanic_lock) (v5.6 .. v5.18)",),
        doc="Before the 2022 panic-notifier fixes: priority 1 and a plain spin_lock.",
    ),),
    since=(5, 6),
)

PVPANIC = Driver(
    name="pvpanic",
    callbacks=(cb(
        "pvpanic", "panic_notifier_list", INT_MAX, needs=("trylock:pvpanic_lock",),
        effects=("pvpanic", "mmio"), order=30,
        sources=("drivers/misc/pvpanic/pvpanic.c pvpanic_panic_notify, INT_MAX (6.1.192)",
                 "include/uapi/misc/pvpanic.h PVPANIC_PANICKED 1, PVPANIC_CRASH_LOADED 2"),
        doc="Tells the host (QEMU) PANICKED or, with a crash kernel loaded, CRASH_LOADED.",
    ),),
    since=(5, 19),
    older=(PVPANIC_OLD,),
    doc="'misc/pvpanic: Convert regular spinlock into trylock on panic path' (Piccoli, 2022, "
        "V1 05/30: trylock and priority 1 -> INT_MAX), v5.19 [I]; CRASH_LOADED since v5.6 [I].",
)

IPMI = Driver(
    name="ipmi-panic-event",
    callbacks=(cb(
        "ipmi-panic-event", "panic_notifier_list", 200, effects=("ipmi-panic",), order=30,
        risky=("port-io", "polls-bmc"),
        sources=("drivers/char/ipmi/ipmi_msghandler.c panic_event, panic_block priority 200 "
                 "(6.1.192)",),
        doc="Polled mode, extends the IPMI watchdog to 255 s, logs a SEL panic event "
            "(panic_op).",
    ),),
    since=(2, 6),
)

IPMI_WATCHDOG = Driver(
    name="ipmi-watchdog",
    callbacks=(),
    boot=("arm-bmc-watchdog",),
    requires=("ipmi-panic-event",),
    doc="drivers/char/ipmi/ipmi_watchdog.c: a BMC watchdog armed with the default 10 s "
        "timeout; its panic handler (called by ipmi-panic-event) sets 255 s.",
)

I6300ESB = Driver(
    name="i6300esb",
    callbacks=(),
    boot=("arm-hw-watchdog:i6300esb",),
    doc="drivers/watchdog/i6300esb.c (6.1.192): the Intel 6300ESB chipset watchdog (QEMU "
        "-device i6300esb), armed when a daemon opens /dev/watchdog (esb_timer_start) with "
        "the timeout i6300esb.heartbeat (esb_timer_set_heartbeat: timer1 and timer2 each "
        "heartbeat/2 at ~1 kHz, then the reset) and kept alive by its writes "
        "(esb_timer_keepalive). It registers no panic notifier, kmsg dumper or crash-shutdown "
        "hook; esb_probe's watchdog_stop_on_reboot() puts a notifier on the reboot list "
        "(drivers/watchdog/watchdog_core.c watchdog_reboot_notifier), which kernel_restart() "
        "runs and panic()'s emergency_restart() and __crash_kexec() do not. So after a panic "
        "nothing stops or pets it: it resets the machine the heartbeat after the daemon's "
        "last keepalive, in the crash kernel if the dump is not done (the crash kernel must "
        "not load the driver either: esb_initdevice() disables the timer).",
)

RAMOOPS = Driver(
    name="ramoops",
    callbacks=(cb(
        "ramoops", "kmsg_dumper", effects=("persist-log:ramoops",), order=25,
        needs=("trylock:pstore-buf",), max_reason="OOPS",
        sources=("fs/pstore/platform.c pstore_dump (6.1.192)",
                 "fs/pstore/ram.c ramoops max_reason default 2 (Oops and Panic)"),
        doc="Stores the log tail in a RAM region that survives into the capture kernel.",
    ),),
)

DRIVERS = (BCM_VK, PVPANIC, IPMI, IPMI_WATCHDOG, I6300ESB, RAMOOPS)
