// SPDX-License-Identifier: GPL-2.0
/* Shape: writers of crash_kexec_post_notifiers under conditions. */
#include <linux/panic_notifier.h>

int __init wr_setup(void)
{
	if (!wr_supported)
		return 0;

	if (wr_mode == 2) {
		if (wr_features & WR_CRASH_MSR) {
			crash_kexec_post_notifiers = true;
		}
	} else {
		crash_kexec_post_notifiers = false;
	}
	return 1;
}

void wr_force(void)
{
	crash_kexec_post_notifiers = 1;
}
