/* Local header: a registration helper that fixes the list and takes the block. */
#include <linux/panic_notifier.h>

static inline int hw_register_panic(struct notifier_block *nb)
{
	return atomic_notifier_chain_register(&panic_notifier_list, nb);
}

#define HW_REGISTER_PANIC_MACRO(blk) \
	atomic_notifier_chain_register(&panic_notifier_list, (blk))
