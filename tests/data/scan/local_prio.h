/* Local header: a priority #define used by local_prio.c */
#define LP_PRIO_BASE	(INT_MIN + 1)
#define LP_PRIO		LP_PRIO_BASE
