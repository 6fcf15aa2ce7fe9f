"""Byte pre-filter: pick the few files of a kernel tree worth parsing.

A file is parsed only if its bytes contain one of the names the scanner looks
for. The cheap substring gate (``notifier``, ``kmsg_dump``, ``crash_shutdown``,
``hv_setup_crash``) rejects about 99% of a 6.1 tree before the exact tokens are
checked. ``extra`` tokens are the names of wrappers and list aliases defined in
headers (found by parsing those headers), so a .c file that only calls such a
wrapper is parsed too.
"""

from __future__ import annotations

TOKENS: tuple[bytes, ...] = (
    b"panic_notifier_list",
    b"notifier_chain_register",
    b"notifier_chain_unregister",
    b"kmsg_dump_register",
    b"kmsg_dump_unregister",
    b"crash_shutdown",
    b"crash_kexec_post_notifiers",
    b"hv_setup_crash_handler",
)
#: Names without which a translation unit (a file plus the local headers it
#: includes, two levels) cannot yield anything the scanner reports: a
#: panic-list registration needs its head ``panic_notifier_list`` spelled in the
#: unit (directly, through a macro alias or a local variable); every other kind
#: needs its API name (a wrapper's body spells it too). ``notifier_chain_register``
#: alone, as in net/core/dev.c's ``raw_notifier_chain_register(&netdev_chain, nb)``,
#: is not enough, so files matched only by it are dropped before parsing when
#: no header of theirs spells one of these either (118 of 222 files in 6.1).
UNIT_TOKENS: tuple[bytes, ...] = (
    b"panic_notifier_list",
    b"kmsg_dump_register",
    b"kmsg_dump_unregister",
    b"crash_shutdown",
    b"crash_kexec_post_notifiers",
    b"hv_setup_crash_handler",
)
_GATES: tuple[bytes, ...] = (b"notifier", b"kmsg_dump", b"crash_shutdown", b"hv_setup_crash")

SOURCE_SUFFIXES = (".c", ".h")


def worth_parsing(data: bytes, extra: frozenset[bytes] = frozenset()) -> bool:
    """Whether ``data`` mentions a registration API, the list, or an extra (wrapper) name."""
    if any(gate in data for gate in _GATES) and any(token in data for token in TOKENS):
        return True
    return any(token in data for token in extra)


def unit_may_matter(texts: list[bytes], extra: frozenset[bytes] = frozenset()) -> bool:
    """Whether a unit whose files have these bytes can yield a finding (see UNIT_TOKENS)."""
    return any(token in data for data in texts for token in (*UNIT_TOKENS, *extra))


def is_source(name: str) -> bool:
    """C source or header."""
    return name.endswith(SOURCE_SUFFIXES)


def is_global_header(rel: str) -> bool:
    """Header under include/ or arch/*/include/ (reached with ``#include <...>``)."""
    parts = rel.split("/")
    return parts[0] == "include" or (len(parts) > 2 and parts[0] == "arch"
                                     and parts[2] == "include")
