// SPDX-License-Identifier: GPL-2.0
/* Shape: priority from a #define in an included local header, and from an enum. */
#include <linux/panic_notifier.h>
#include "local_prio.h"

enum lp_levels {
	LP_LOW = 10,
	LP_MID,
	LP_HIGH = LP_MID * 10,
};

static int lp_define_cb(struct notifier_block *nb, unsigned long e, void *p)
{
	return NOTIFY_OK;
}

static int lp_enum_cb(struct notifier_block *nb, unsigned long e, void *p)
{
	return NOTIFY_OK;
}

static int lp_opaque_cb(struct notifier_block *nb, unsigned long e, void *p)
{
	return NOTIFY_OK;
}

static struct notifier_block lp_define_nb = {
	.notifier_call = lp_define_cb,
	.priority = LP_PRIO,
};

static struct notifier_block lp_enum_nb = {
	.notifier_call = lp_enum_cb,
	.priority = LP_HIGH,
};

static struct notifier_block lp_opaque_nb = {
	.notifier_call = lp_opaque_cb,
	.priority = lp_runtime_priority(),
};

static int __init lp_init(void)
{
	atomic_notifier_chain_register(&panic_notifier_list, &lp_define_nb);
	atomic_notifier_chain_register(&panic_notifier_list, &lp_enum_nb);
	atomic_notifier_chain_register(&panic_notifier_list, &lp_opaque_nb);
	return 0;
}
