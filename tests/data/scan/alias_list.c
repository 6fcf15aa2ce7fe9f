// SPDX-License-Identifier: GPL-2.0
/* Shape: the list reached through a macro alias from a local header;
 * this file never spells the list's name, so grep for it misses the registration. */
#include "alias_list.h"

static int al_cb(struct notifier_block *nb, unsigned long e, void *p)
{
	return NOTIFY_DONE;
}

static struct notifier_block al_nb = { al_cb, NULL, 7 };

static int __init al_init(void)
{
	struct atomic_notifier_head *head = &AL_PANIC_CHAIN;

	atomic_notifier_chain_register(&AL_PANIC_CHAIN, &al_nb);
	return atomic_notifier_chain_register(head, &al_local_nb);
}

static struct notifier_block al_local_nb = {
	.notifier_call = al_local_cb,
};
