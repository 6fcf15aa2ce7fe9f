// SPDX-License-Identifier: GPL-2.0
/* Shape: malformed C and bytes that are not UTF-8 around a valid registration. */
#include <linux/panic_notifier.h>

static int mf_cb(struct notifier_block *nb, unsigned long e, void *p)
{
	return NOTIFY_DONE;
}

static struct notifier_block mf_nb = { .notifier_call = mf_cb, .priority = 5 };

static int broken(void) { if (x { ]] ) ; atomic_notifier_chain_register(&panic_notifier_list ;
}}}

static int __init mf_init(void)
{
	atomic_notifier_chain_register(&panic_notifier_list, &mf_nb);
	return 0;
}
/* ÿþ latin-1 café */
