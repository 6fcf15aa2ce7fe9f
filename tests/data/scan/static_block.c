// SPDX-License-Identifier: GPL-2.0
/* Shape: static struct initialiser, direct registration (like pvpanic). */
#include <linux/notifier.h>
#include <linux/panic_notifier.h>

static DEFINE_SPINLOCK(sb_lock);

static int sb_panic_notify(struct notifier_block *nb, unsigned long code, void *unused)
{
	if (!spin_trylock(&sb_lock))
		return NOTIFY_DONE;
	iowrite8(1, sb_base);
	spin_unlock(&sb_lock);
	return NOTIFY_DONE;
}

static struct notifier_block sb_panic_nb = {
	.notifier_call = sb_panic_notify,
	.priority = INT_MAX, /* run first */
};

static int __init sb_init(void)
{
	atomic_notifier_chain_register(&panic_notifier_list, &sb_panic_nb);
	return 0;
}

static void __exit sb_exit(void)
{
	atomic_notifier_chain_unregister(&panic_notifier_list, &sb_panic_nb);
}
