// SPDX-License-Identifier: GPL-2.0
/*
 * Shape: a wrapper taking the list head as a parameter. A grep for
 * "atomic_notifier_chain_register(&panic_notifier_list" finds nothing here.
 */
#include <linux/panic_notifier.h>

static int wh_cb(struct notifier_block *nb, unsigned long e, void *p)
{
	pr_emerg("wh: panic seen\n");
	return NOTIFY_DONE;
}

static struct notifier_block wh_nb = {
	.notifier_call = wh_cb,
	.priority = 42,
};

static int wh_chain_add(struct atomic_notifier_head *head, struct notifier_block *nb)
{
	return atomic_notifier_chain_register(head, nb);
}

static int __init wh_init(void)
{
	wh_chain_add(&reboot_list, &other_nb);
	return wh_chain_add(&panic_notifier_list, &wh_nb);
}
