// SPDX-License-Identifier: GPL-2.0
/* Shape: block embedded in a device struct, filled at probe time (like hyperv_fb). */
#include <linux/panic_notifier.h>

struct rf_par {
	spinlock_t lock;
	struct notifier_block rf_panic_nb;
};

static int rf_on_panic(struct notifier_block *nb, unsigned long e, void *p)
{
	struct rf_par *par = container_of(nb, struct rf_par, rf_panic_nb);

	spin_lock_irqsave(&par->lock, flags);
	writel(0, par->regs);
	spin_unlock_irqrestore(&par->lock, flags);
	return NOTIFY_DONE;
}

static int rf_probe(struct rf_dev *dev)
{
	struct rf_par *par = devm_kzalloc(&dev->dev, sizeof(*par), GFP_KERNEL);

	par->rf_panic_nb.notifier_call = rf_on_panic;
	par->rf_panic_nb.priority = INT_MIN + 10;
	atomic_notifier_chain_register(&panic_notifier_list,
				       &par->rf_panic_nb);
	return 0;
}

static void rf_remove(struct rf_par *par)
{
	atomic_notifier_chain_unregister(&panic_notifier_list,
					 &par->rf_panic_nb);
}
