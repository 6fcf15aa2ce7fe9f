// SPDX-License-Identifier: GPL-2.0
/* Shape: registration through a helper and a macro defined in a local header. */
#include "hw_helpers.h"

static int hw_cb(struct notifier_block *nb, unsigned long e, void *p)
{
	return NOTIFY_DONE;
}

static int hw_macro_cb(struct notifier_block *nb, unsigned long e, void *p)
{
	return NOTIFY_DONE;
}

static struct notifier_block hw_nb = {
	.notifier_call = hw_cb,
	.priority = -5,
};

static struct notifier_block hw_macro_nb = {
	.notifier_call = hw_macro_cb,
	.priority = 3,
};

static int __init hw_init(void)
{
	hw_register_panic(&hw_nb);
	HW_REGISTER_PANIC_MACRO(&hw_macro_nb);
	return 0;
}
