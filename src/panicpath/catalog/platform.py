"""Architecture and hypervisor platform code on the panic path."""

from dataclasses import replace

from panicpath.catalog.base import Driver, cb
from panicpath.model.callback import INT_MAX, INT_MIN

_X86_KERNEL_OFFSET = Driver(
    name="dump-kernel-offset",
    callbacks=(cb(
        "dump-kernel-offset", "panic_notifier_list", 0, effects=("print:Kernel Offset",),
        order=10,
        sources=("arch/x86/kernel/setup.c dump_kernel_offset, register_kernel_offset_dumper "
                 "(__initcall; 6.1.192)",),
        doc="Prints the KASLR offset ('Kernel Offset: ...').",
    ),),
    archs=("x86_64",),
    platform=True,
    since=(3, 15),
)

DUMP_KERNEL_OFFSET = replace(
    _X86_KERNEL_OFFSET,
    callbacks=(replace(
        _X86_KERNEL_OFFSET.callbacks[0],
        sources=("arch/x86/kernel/setup.c dump_kernel_offset, register_kernel_offset_dumper "
                 "(__initcall; 6.1.192); arch/arm64/kernel/setup.c dump_kernel_offset, "
                 "register_kernel_offset_dumper (__initcall, priority 0; arm64 KASLR since "
                 "v4.6; seen in the lab on Debian's arm64 6.1: 'Kernel Offset: 0x... from "
                 "0xffff800008000000' between the probe's priority-200 and priority-0 "
                 "notifiers)",),
    ),),
    archs=("x86_64", "arm64"),
    since=(4, 6),
    older=(_X86_KERNEL_OFFSET,),
)
"""The KASLR offset notifier of x86_64 and (since v4.6) arm64. Debian's ppc64el kernels
have none (no such string in their vmlinux)."""

KVM_CRASH_SHUTDOWN = Driver(
    name="kvm-crash-shutdown",
    callbacks=(cb(
        "kvm-crash-shutdown", "crash_shutdown", effects=("kvm-pv-off",), order=5,
        risky=("wrmsr",),
        sources=("arch/x86/kernel/kvm.c kvm_crash_shutdown -> kvm_guest_cpu_offline(true) "
                 "(6.1.192)",
                 "mainline differs: arch/x86/kernel/kvm.c, under CONFIG_CRASH_DUMP and KVM_GUEST_SHUTDOWN; "
                 "older kernels had it in kvmclock.c (kvmclock + steal time only)"),
        doc="Turns the crashing CPU's PV features off so the host stops writing guest memory.",
    ),),
    archs=("x86_64",),
    hypervisors=("kvm",),
    platform=True,
    since=(3, 2),
)

OCTEON_WATCHDOG = Driver(
    name="octeon-watchdog",
    callbacks=(cb(
        "octeon-watchdog", "crash_shutdown", effects=("stop-watchdogs-online",), order=5,
        needs=("other-cpus-online",),
        sources=("arch/mips/cavium-octeon/setup.c octeon_generic_shutdown / "
                 "octeon_crash_smp_send_stop (6.1.192)",
                 "drivers/watchdog/octeon-wdt-main.c (per-CPU CIU watchdogs)"),
        doc="Zeroes the CIU watchdog of each ONLINE CPU (seed 003, Problem 1).",
    ),),
    boot=("arm-cpu-watchdogs",),
    archs=("mips-octeon",),
    platform=True,
)

FADUMP_OLD = Driver(
    name="fadump",
    callbacks=(cb(
        "fadump", "panic_notifier_list", 2**31 - 1, effects=("firmware-dump",), order=8,
        sources=("arch/powerpc/kernel/setup-common.c (fadump from the panic notifier, before "
                 "06e629c25daa forced post notifiers) [I on the priority]",),
    ),),
    archs=("powerpc",),
    since=(3, 4),
)

FADUMP = Driver(
    name="fadump",
    callbacks=(cb(
        "fadump", "panic_notifier_list", INT_MAX, effects=("firmware-dump",), order=8,
        forces_post_notifiers=True,
        sources=("arch/powerpc/kernel/setup-common.c ppc_panic_fadump_handler, INT_MAX (6.1.192)",
                 "arch/powerpc/kernel/fadump.c setup_fadump sets crash_kexec_post_notifiers"),
        doc="Firmware-assisted dump from the first panic notifier; forces post notifiers.",
    ),),
    boot=("force-post-notifiers",),
    archs=("powerpc",),
    since=(5, 17),
    older=(FADUMP_OLD,),
    doc="06e629c25daa (v5.17) makes setup_fadump() set crash_kexec_post_notifiers.",
)

PSERIES_OS_TERM = Driver(
    name="pseries-os-term",
    callbacks=(cb(
        "pseries-os-term", "panic_notifier_list", INT_MIN, effects=("kmsg-dump", "os-term"),
        order=9,
        sources=("arch/powerpc/kernel/setup-common.c ppc_panic_platform_handler, INT_MIN "
                 "('may not return; must be done last', 6.1.192) -> ppc_md.panic = "
                 "arch/powerpc/platforms/pseries/setup.c pseries_panic -> "
                 "panic_flush_kmsg_end (kmsg_dump PANIC) -> rtas_os_term",),
        doc="A pseries guest tells its hypervisor it panicked (RTAS ibm,os-term): QEMU's "
            "GUEST_PANICKED, like pvpanic's PANICKED.",
    ),),
    archs=("powerpc",),
    doc="The lab's ppc64el guest is QEMU's pseries machine, whose kernel registers it (seen: "
        "GUEST_PANICKED after the last notifier, QEMU powers off before kmsg_dump).",
)

SEV_SNP = Driver(
    name="sev-snp",
    callbacks=(cb(
        "sev-snp", "panic_notifier_list", 0, effects=("snp-iommu-shutdown", "hypercall"),
        order=35, forces_post_notifiers=True,
        sources=("drivers/crypto/ccp/sev-dev.c SNP panic notifier, 8ef979584ea8 (v6.9 [I]; "
                 "not in 6.1)",
                 "arch/x86/virt/svm/sev.c snp_rmptable_init sets crash_kexec_post_notifiers"),
        doc="AMD SEV-SNP host: SNP shutdown with IOMMU release before kdump; forces post "
            "notifiers.",
    ),),
    boot=("force-post-notifiers", "snp-iommu"),
    archs=("x86_64",),
    since=(6, 9),
)

XEN_PANIC = Driver(
    name="xen-panic-event",
    callbacks=(cb(
        "xen-panic-event", "panic_notifier_list", INT_MIN, effects=("xen-panic",), order=6,
        risky=("hypercall",),
        sources=("arch/x86/xen/enlighten.c xen_panic_event, priority INT_MIN (6.1.192)",),
        doc="Without a crash kernel: reboot_reason = SHUTDOWN_crash, and with panic_timeout == 0 "
            "xen_reboot(SHUTDOWN_crash) hands the domain to the hypervisor.",
    ),),
    archs=("x86_64",),
    hypervisors=("xen",),
    platform=True,
)

XEN_CRASH_SHUTDOWN = Driver(
    name="xen-crash-shutdown",
    callbacks=(cb(
        "xen-crash-shutdown", "crash_shutdown", effects=("hypercall",), order=6,
        sources=("arch/x86/xen/enlighten_hvm.c xen_hvm_crash_shutdown (6.1.192): native "
                 "shutdown, then xen_reboot(SHUTDOWN_soft_reset)",),
        doc="Xen HVM machine_ops.crash_shutdown: asks Xen for a soft reset so the capture "
            "kernel starts with clean domain state.",
    ),),
    archs=("x86_64",),
    hypervisors=("xen",),
    platform=True,
)

DRIVERS = (DUMP_KERNEL_OFFSET, KVM_CRASH_SHUTDOWN, OCTEON_WATCHDOG, FADUMP, SEV_SNP, XEN_PANIC,
           XEN_CRASH_SHUTDOWN, PSERIES_OS_TERM)
