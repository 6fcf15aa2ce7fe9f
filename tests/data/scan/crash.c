// SPDX-License-Identifier: GPL-2.0
/* Shape: crash-shutdown hooks of every kind. */
#include <asm/kexec.h>
#include <asm/reboot.h>

static void cr_stop_watchdogs(void)
{
	outb(0, 0x443);
}

static void cr_ops_shutdown(struct pt_regs *regs)
{
	native_machine_crash_shutdown(regs);
}

struct machine_ops machine_ops __ro_after_init = {
	.halt = native_machine_halt,
#ifdef CONFIG_KEXEC_CORE
	.crash_shutdown = native_machine_crash_shutdown,
#endif
};

void machine_crash_shutdown(struct pt_regs *regs)
{
	machine_ops.crash_shutdown(regs);
}

static int __init cr_init(void)
{
	if (crash_shutdown_register(cr_stop_watchdogs))
		pr_err("cr: cannot register\n");
	machine_ops.crash_shutdown = cr_ops_shutdown;
	return 0;
}

static void cr_exit(void)
{
	crash_shutdown_unregister(cr_stop_watchdogs);
}
