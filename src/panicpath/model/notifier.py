"""Notifier chains and the kmsg dumper list, with kernel/notifier.c's exact semantics."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from panicpath.model.callback import KMSG_DUMP_REASONS, NOTIFY_STOP_MASK, Callback


class CorruptNodeFault(Exception):
    """Dereferencing a corrupted `notifier_block.next` faulted (seed 000, Biederman:
    notifier lists are fragile in the face of memory corruption)."""


def chain_register(chain: Sequence[Callback], cb: Callback) -> tuple[Callback, ...]:
    """Insert `cb` as kernel/notifier.c notifier_chain_register() does (v2.6.17 .. 6.1 .. mainline).

    The walk stops at the first entry whose priority is strictly lower than the
    new one (`if (n->priority > (*nl)->priority) break;`), so higher priority runs
    first and a new entry of equal priority goes after all existing entries of that
    priority. Registering the same block twice is refused (-EEXIST, WARN) and
    leaves the chain unchanged.
    """
    if any(existing is cb or existing.name == cb.name for existing in chain):
        return tuple(chain)
    idx = len(chain)
    for i, existing in enumerate(chain):
        if cb.priority > existing.priority:
            idx = i
            break
    return (*chain[:idx], cb, *chain[idx:])


def build_chain(callbacks: Iterable[Callback]) -> tuple[Callback, ...]:
    """Register `callbacks` one by one in their registration order (`Callback.order`)."""
    chain: tuple[Callback, ...] = ()
    for cb in sorted(callbacks, key=lambda c: c.order):
        chain = chain_register(chain, cb)
    return chain


def call_chain(
    chain: Sequence[Callback],
    invoke: Callable[[Callback], int],
    corrupt: bool = False,
    corrupt_after: str = "",
) -> int:
    """Walk the chain as notifier_call_chain() (kernel/notifier.c): call each entry in
    order, stop when a return value has NOTIFY_STOP_MASK set, return the last value
    (NOTIFY_DONE for an empty chain).

    With `corrupt`, the list head's `next` pointer is garbage: the first
    dereference faults before any callback runs (rcu_dereference_raw of a bad
    pointer), whatever the chain holds. With `corrupt_after`, that callback's block's
    `next` is garbage: notifier_call_chain() reads `next_nb = nb->next` before calling
    `nb`, so that callback still runs, and the walk faults on the next step unless it
    returned NOTIFY_STOP (kernel/notifier.c, 6.1; seen in the lab:
    tests/data/fault_corrupted_list_post.log).
    """
    if corrupt and not corrupt_after:
        raise CorruptNodeFault("notifier_call_chain: bad notifier_block.next pointer")
    ret = 0
    for cb in chain:
        ret = invoke(cb)
        if ret & NOTIFY_STOP_MASK:
            break
        if corrupt and cb.name == corrupt_after:
            raise CorruptNodeFault(f"notifier_call_chain: bad next pointer after {cb.name}")
    return ret


def build_dumpers(callbacks: Iterable[Callback]) -> tuple[Callback, ...]:
    """kmsg_dump_register() (kernel/printk/printk.c, 6.1) appends at the tail of
    `dump_list`: dumpers run in registration order; priority plays no part."""
    return tuple(sorted(callbacks, key=lambda c: c.order))


def dumper_wants(cb: Callback, reason: str, always_kmsg_dump: bool = False) -> bool:
    """kmsg_dump(): a dumper whose max_reason is UNDEF gets MAX when
    `printk.always_kmsg_dump` is set, else OOPS; it is skipped when reason > max_reason."""
    max_reason = KMSG_DUMP_REASONS[cb.max_reason]
    if max_reason == KMSG_DUMP_REASONS["UNDEF"]:
        max_reason = KMSG_DUMP_REASONS["MAX" if always_kmsg_dump else "OOPS"]
    return KMSG_DUMP_REASONS[reason] <= max_reason
