// SPDX-License-Identifier: GPL-2.0
/* Shape: kmsg dumpers, static and filled at run time (like pstore and mtdoops). */
#include <linux/kmsg_dump.h>

static void km_dump(struct kmsg_dumper *dumper, enum kmsg_dump_reason reason)
{
	if (reason != KMSG_DUMP_PANIC)
		return;
	mutex_lock(&km_mutex);
	mutex_unlock(&km_mutex);
}

static struct kmsg_dumper km_dumper = {
	.dump = km_dump,
	.max_reason = KMSG_DUMP_PANIC,
};

static void km_rt_dump(struct kmsg_dumper *dumper, enum kmsg_dump_reason reason)
{
	void *buf = kmalloc(4096, GFP_ATOMIC);
}

static int km_init(struct km_ctx *cxt)
{
	kmsg_dump_register(&km_dumper);
	cxt->dump.dump = km_rt_dump;
	cxt->dump.max_reason = KMSG_DUMP_OOPS;
	return kmsg_dump_register(&cxt->dump);
}

static void km_exit(void)
{
	kmsg_dump_unregister(&km_dumper);
}
