"""The generated probe module source."""

from __future__ import annotations

from pathlib import Path

import pytest

from panicpath.lab.kernels import KernelFiles
from panicpath.lab.probe import build_probe, init_sections, render_probe
from panicpath.lab.scenario import builtin_scenarios_dir, load_scenario, parse_scenario


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


def _faults(faults: str, extra: str = "") -> str:
    return render_probe(parse_scenario(f'name = "x"\nfaults = [{faults}]\n{extra}',
                                       Path("x.toml")))


def test_probe_faults_follow_the_models_victim_and_arguments() -> None:
    from panicpath.lab.probe import ProbeFaults, probe_faults

    s = parse_scenario('name = "x"\nfaults = ["ipi-deaf-cpu=2", "concurrent-panic", '
                       '"hanging-callback", "hanging-callback=b", "corrupted-notifier-list", '
                       '"dma-active"]\n[machine]\ncpus = 3\n[[notifier]]\nname = "a"\n'
                       '[[notifier]]\nname = "b"\n', Path("x.toml"))
    f = probe_faults(s)
    assert f == ProbeFaults(lock_cpu=None, deaf_cpu=2, concurrent_cpu=1, dma_cpu=1,
                            hanging=("", "b"), corrupt="a")
    assert (f.victim_cpus, f.acks, f.extra_hanging) == ((1, 2), 2, True)


def test_armed_faults_wait_for_the_arm_parameter() -> None:
    deaf = _faults('"ipi-deaf-cpu"')
    assert "module_param_cb(arm, &probe_arm_ops, &probe_armed, 0200);" in deaf
    assert "local_irq_disable();" in deaf and "cpu == 1 && !irqs_disabled()" in deaf
    assert "static const int victims[] = { 1 };" in deaf
    conc = _faults('"concurrent-panic"')
    assert "while (!READ_ONCE(oops_in_progress))" in conc and "panic(" in conc
    dma = _faults('"dma-active"')
    assert "module_param_cb(arm" not in dma and "virt_to_phys(probe_dma_page)" in dma


def test_hanging_notifier_is_registered_after_the_scenarios() -> None:
    src = _faults('"hanging-callback"', '[[notifier]]\nname = "a"\n')
    regs = [ln.strip() for ln in src.splitlines() if "atomic_notifier_chain_register" in ln]
    assert regs == ["atomic_notifier_chain_register(&panic_notifier_list, &probe_nb_a);",
                    "atomic_notifier_chain_register(&panic_notifier_list, &probe_nb_hanging);"]
    named = _faults('"hanging-callback=a"', '[[notifier]]\nname = "a"\n')
    body = named[named.index("probe_nb_a_fn("):named.index("static struct notifier_block")]
    assert body.index('probe_mark("a"') < body.index("for (;;)")


def test_lock_behaviour_and_lock_fault_share_one_holder() -> None:
    lock = render_probe(parse_scenario(
        'name = "x"\n[[notifier]]\nname = "a"\nbehaviour = "lock"\n', Path("x.toml")))
    fault = _faults('"lock-held-by-stopped-cpu"')
    for src in (lock, fault):
        assert "raw_spin_lock(&probe_lock);" in src
        assert "LABPANIC fault lock-held-by-stopped-cpu cpu=%d lock=probe_lock" in src


def test_corrupted_list_points_next_into_a_guard_page() -> None:
    src = _faults('"corrupted-notifier-list"', '[[notifier]]\nname = "a"\n')
    assert "probe_nb_a.next = (struct notifier_block *)(area + PAGE_SIZE);" in src


def test_every_fault_at_once_builds_against_the_real_headers(lab_kernel: KernelFiles,
                                                              tmp_path: Path) -> None:
    """The generated C compiles (kbuild, the downloaded 6.1 headers) with all faults."""
    s = parse_scenario(
        'name = "x"\nfaults = ["ipi-deaf-cpu", "concurrent-panic", "dma-active", '
        '"lock-held-by-stopped-cpu", "hanging-callback", "hanging-callback=a", '
        '"corrupted-notifier-list"]\n[[notifier]]\nname = "a"\n'
        '[[notifier]]\nname = "b"\nbehaviour = "lock"\n', Path("x.toml"))
    ko = build_probe(s, lab_kernel, tmp_path)
    assert ko.stat().st_size > 1000
    # Nothing for the kernel to free after init: that free flushes every CPU's TLB and
    # would wait forever on the ipi-deaf-cpu victim (the CI hang of 2026-12-02).
    assert init_sections(ko) == []


def test_init_sections_finds_what_init_would_free(lab_kernel: KernelFiles,
                                                  tmp_path: Path) -> None:
    """The check that guards the probe sees an __init function's section in a real
    module built the same way (so an empty list above is not a blind parser)."""
    import subprocess

    from panicpath.lab.probe import MODULE_NAME, TOOLCHAINS

    (tmp_path / f"{MODULE_NAME}.c").write_text(
        '#include <linux/module.h>\nstatic int __init i(void) { return 0; }\n'
        'module_init(i);\nMODULE_LICENSE("GPL");\n')
    (tmp_path / "Makefile").write_text(f"obj-m := {MODULE_NAME}.o\n")
    gnu, _ = TOOLCHAINS[lab_kernel.arch]
    subprocess.run(["make", "-s", "-C", str(lab_kernel.build), f"M={tmp_path}",
                    f"CC={gnu}-gcc-12", "modules"], check=True, capture_output=True)
    assert ".init.text" in init_sections(tmp_path / f"{MODULE_NAME}.ko")


@pytest.mark.qemu
@pytest.mark.parametrize(("release", "arch", "flavour", "machine"), [
    ("5.10", "x86_64", "cloud-amd64", "EM_X86_64"),
    ("6.12", "x86_64", "cloud-amd64", "EM_X86_64"),
    ("7.3", "x86_64", "cloud-amd64", "EM_X86_64"),
    ("6.1", "arm64", "cloud-arm64", "EM_AARCH64"),
    ("7.3", "arm64", "cloud-arm64", "EM_AARCH64"),
    ("6.1", "ppc64el", "powerpc64le", "EM_PPC64"),
])
def test_probe_builds_for_every_release_and_arch(release: str, arch: str, flavour: str,
                                                 machine: str) -> None:
    """Issue 15: the probe is cross-built with the host's gcc 12 against each kernel's
    headers (6.12's gcc-14 flags and BTF step overridden, trixie's kbuild tools given their
    own libc); the module is for the guest's machine and its vermagic names the kernel."""
    from elftools.elf.elffile import ELFFile

    from panicpath.lab.kernels import ensure_kernel
    from panicpath.lab.scenario import with_kernel

    sc = with_kernel(load_scenario(builtin_scenarios_dir() / "kdump_post_notifiers_order.toml"),
                     release, arch)
    kernel = ensure_kernel(flavour, release=release, arch=arch)
    ko = build_probe(sc, kernel)
    with ko.open("rb") as f:
        elf = ELFFile(f)
        assert elf["e_machine"] == machine
        modinfo = elf.get_section_by_name(".modinfo").data().split(b"\0")
        names = {s.name for s in elf.iter_sections()}
    # nothing for init to free (an ipi-deaf-cpu victim would block the TLB flush), but the
    # arch's own placeholders kept: arm64's loader refuses a module without .init.plt
    if machine == "EM_AARCH64":
        # arm64 needs no other CPU to flush after init and 7.3's loader wants the module
        # as built: left alone, arch placeholders included
        assert {".plt", ".init.plt"} <= names
    else:
        assert init_sections(ko) == []
    vermagic = next(x for x in modinfo if x.startswith(b"vermagic="))
    assert vermagic.decode().split("=", 1)[1].split()[0] == kernel.release


def test_builds_of_one_probe_side_by_side_build_it_once(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    """Two guests of a Ray node prepared at once with the same probe source: the second
    waits for the first's build (the lock) and takes its module instead of building into
    the same work directory."""
    import threading
    import time

    import panicpath.lab.probe as probe

    builds: list[str] = []

    def slow_build(source: str, digest: str, kernel: object, ko: Path, cache: object) -> Path:
        builds.append(digest)
        time.sleep(0.5)
        ko.parent.mkdir(parents=True, exist_ok=True)
        ko.write_bytes(b"module")
        return ko

    monkeypatch.setattr(probe, "_build", slow_build)
    sc = load_scenario(builtin_scenarios_dir() / "ipi_deaf_cpu_no_kdump.toml")
    kernel = KernelFiles("cloud-amd64", "6.1.0-test-cloud-amd64", tmp_path / "kernel")
    got: list[Path] = []
    threads = [threading.Thread(target=lambda: got.append(build_probe(sc, kernel, tmp_path)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1
    assert len(got) == 2 and got[0] == got[1] and got[0].read_bytes() == b"module"
