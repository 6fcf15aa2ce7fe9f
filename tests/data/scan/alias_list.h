/* Local header: an alias of the panic notifier list. */
#define AL_PANIC_CHAIN panic_notifier_list
