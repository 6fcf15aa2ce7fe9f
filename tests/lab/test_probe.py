"""The generated probe module source."""

from __future__ import annotations

from pathlib import Path

from panicpath.lab.probe import render_probe
from panicpath.lab.scenario import parse_scenario


def test_registration_follows_scenario_order_and_behaviours() -> None:
    s = parse_scenario(
        'name = "x"\n'
        '[[notifier]]\nname = "zed"\npriority = 0\nbehaviour = "stop"\n'
        '[[notifier]]\nname = "amy"\npriority = 7\nbehaviour = "spin"\nspin_ms = 250\n'
        '[[notifier]]\nname = "lk"\npriority = -1\nbehaviour = "lock"\nlock_timeout_ms = 40\n'
        '[[kmsg_dumper]]\nname = "dd"\n', Path("x.toml"))
    src = render_probe(s)
    regs = [ln.strip() for ln in src.splitlines() if "atomic_notifier_chain_register" in ln]
    assert regs == [
        "atomic_notifier_chain_register(&panic_notifier_list, &probe_nb_zed);",
        "atomic_notifier_chain_register(&panic_notifier_list, &probe_nb_amy);",
        "atomic_notifier_chain_register(&panic_notifier_list, &probe_nb_lk);",
    ]
    zed = src[src.index("probe_nb_zed_fn(") : src.index("probe_nb_amy_fn(")]
    assert "return NOTIFY_STOP;" in zed
    amy = src[src.index("probe_nb_amy_fn(") : src.index("probe_nb_lk_fn(")]
    assert "mdelay(250);" in amy and "return NOTIFY_DONE;" in amy
    assert "probe_take_lock(40)" in src and "kthread_create_on_cpu" in src
    assert ".priority = 7," in src
    assert "kmsg_dump_register(&probe_dump_dd);" in src
    assert 'LABPANIC kmsg_dump dd reason=%d (%s)' in src


def test_no_lock_holder_without_lock_behaviour() -> None:
    s = parse_scenario('name = "x"\n[[notifier]]\nname = "a"\n', Path("x.toml"))
    src = render_probe(s)
    assert "kthread" not in src.split("#include <linux/cpumask.h>")[1]
