"""The byte pre-filter keeps exactly the files that can matter."""

from __future__ import annotations

from panicpath.scan.prefilter import is_global_header, worth_parsing


def test_worth_parsing() -> None:
    assert worth_parsing(b"x(&panic_notifier_list, &nb);")
    assert worth_parsing(b"kmsg_dump_register(&d);")
    assert worth_parsing(b"machine_ops.crash_shutdown = f;")
    assert worth_parsing(b"crash_kexec_post_notifiers = true;")
    assert not worth_parsing(b"register_reboot_notifier(&nb);")
    assert not worth_parsing(b"my_wrapper(&nb);")
    assert worth_parsing(b"my_wrapper(&nb);", frozenset({b"my_wrapper"}))


def test_global_headers() -> None:
    assert is_global_header("include/linux/panic_notifier.h")
    assert is_global_header("arch/x86/include/asm/reboot.h")
    assert not is_global_header("kernel/rcu/tree_stall.h")
    assert not is_global_header("drivers/gpu/drm/amd/include/x.h")
