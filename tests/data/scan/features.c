// SPDX-License-Identifier: GPL-2.0
/* Shape: a callback doing every risky thing, partly through same-file helpers. */
#include <linux/panic_notifier.h>

#define FT_WAIT_MS	10
#define FT_LOOPS	(1000 / FT_WAIT_MS)

static void ft_ipi(void *info)
{
}

static void ft_level3(void)
{
	mdelay(7);
}

static void ft_level2(void)
{
	ft_level3();
}

static void ft_level1(void)
{
	ft_level2();
}

static void ft_helper(void)
{
	int i;

	for (i = 0; i < FT_LOOPS; i++)
		mdelay(FT_WAIT_MS);
	mutex_lock(&ft_mutex);
	ft_level1();
}

static int ft_panic(struct notifier_block *nb, unsigned long e, void *p)
{
	spin_lock(&ft_lock);
	while (!ft_done())
		cpu_relax();
	smp_call_function(ft_ipi, NULL, 1);
	hv_do_hypercall(HVCALL_POST_MESSAGE, msg, NULL);
	kmalloc(64, GFP_ATOMIC);
	wait_for_completion(&ft_done_cmp);
	pr_emerg("ft: notifying\n");
	ft_helper();
	return NOTIFY_STOP;
}

static struct notifier_block ft_nb = {
	.notifier_call = ft_panic,
	.priority = 1,
};

static int __init ft_init(void)
{
	return atomic_notifier_chain_register(&panic_notifier_list, &ft_nb);
}
