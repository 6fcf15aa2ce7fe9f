"""The policy derived from a tree's panic() (scan/panic_policy.py), on small synthetic trees.

The real releases are in test_panic_policy_sources.py."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.cli import main
from panicpath.policies.policy_file import load_policy_file
from panicpath.scan.kernel_sources import SourceError, extract_members
from panicpath.scan.panic_policy import DeriveError, derive_policy

MAKEFILE = "# SPDX\nVERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 99\nEXTRAVERSION =\n"

# kernel/panic.c of 6.1.192, cut to what the derivation reads (Debian linux-source-6.1)
PANIC_C = """\
bool crash_kexec_post_notifiers;
static void panic_print_sys_info(bool console_flush)
{
	if (console_flush) {
		if (panic_print & PANIC_PRINT_ALL_PRINTK_MSG)
			console_flush_on_panic(CONSOLE_REPLAY_ALL);
		return;
	}
	if (panic_print & PANIC_PRINT_TASK_INFO)
		show_state();
	if (panic_print & PANIC_PRINT_MEM_INFO)
		show_mem(0, NULL);
}
static void panic_other_cpus_shutdown(bool crash_kexec)
{
	if (panic_print & PANIC_PRINT_ALL_CPU_BT)
		trigger_all_cpu_backtrace();
	if (!crash_kexec)
		smp_send_stop();
	else
		crash_smp_send_stop();
}
void panic(const char *fmt, ...)
{
	static char buf[1024];
	bool _crash_kexec_post_notifiers = crash_kexec_post_notifiers;

	local_irq_disable();
	this_cpu = raw_smp_processor_id();
	old_cpu  = atomic_cmpxchg(&panic_cpu, PANIC_CPU_INVALID, this_cpu);
	if (old_cpu != PANIC_CPU_INVALID && old_cpu != this_cpu)
		panic_smp_self_stop();
	pr_emerg("Kernel panic - not syncing: %s\\n", buf);
#ifdef CONFIG_DEBUG_BUGVERBOSE
	if (!test_taint(TAINT_DIE) && oops_in_progress <= 1)
		dump_stack();
#endif
	if (!_crash_kexec_post_notifiers)
		__crash_kexec(NULL);
	panic_other_cpus_shutdown(_crash_kexec_post_notifiers);
	atomic_notifier_call_chain(&panic_notifier_list, 0, buf);
	panic_print_sys_info(false);
	kmsg_dump(KMSG_DUMP_PANIC);
	if (_crash_kexec_post_notifiers)
		__crash_kexec(NULL);
	console_unblank();
	debug_locks_off();
	console_flush_on_panic(CONSOLE_FLUSH_PENDING);
	panic_print_sys_info(true);
	if (panic_timeout != 0)
		emergency_restart();
	console_flush_on_panic(CONSOLE_FLUSH_PENDING);
	for (;;)
		mdelay(PANIC_TIMER_STEP);
}
"""

LINUX_6_1 = [("panic_entry", ""), ("crash_kexec", "!post"), ("panic_other_cpus_shutdown", ""),
             ("notifier_chain", ""), ("panic_print_sys_info", ""), ("kmsg_dump", ""),
             ("crash_kexec", "post"), ("console_flush_on_panic", ""), ("panic_timeout", "")]


def tree(tmp: Path, panic_c: str = PANIC_C, makefile: str = MAKEFILE) -> Path:
    (tmp / "kernel").mkdir(parents=True, exist_ok=True)
    (tmp / "Makefile").write_text(makefile)
    (tmp / "kernel" / "panic.c").write_text(panic_c)
    return tmp


def test_6_1_shape(tmp_path: Path) -> None:
    d = derive_policy(tree(tmp_path))
    assert list(d.program) == LINUX_6_1
    assert d.release == "6.1.99" and d.version == (6, 1) and d.function == "panic"
    assert [u.name for u in d.unmodelled] == ["dump_stack", "console_flush_on_panic"]
    assert str(d.unmodelled[0]).startswith("dump_stack (kernel/panic.c:")
    assert {f for f, _ in d.features} == {"post_notifiers_option", "panic_other_cpus_shutdown"}
    # panic_print_sys_info(true) is the console replay, merged with the flush before it
    assert any("CONSOLE_REPLAY_ALL" in m for m in d.merged)
    p = d.policy()
    assert p.base == "linux-6.1" and p.unmodelled and p.kind == "kernel"


def test_reordering_two_calls_changes_the_program(tmp_path: Path) -> None:
    """Mladek's solution 3 without the list split (seed 000): __crash_kexec after the
    notifiers and kmsg_dump, always; and kmsg_dump before the notifiers."""
    src = PANIC_C.replace("\tif (!_crash_kexec_post_notifiers)\n\t\t__crash_kexec(NULL);\n", "")
    src = src.replace("\tif (_crash_kexec_post_notifiers)\n\t\t__crash_kexec(NULL);\n",
                      "\t__crash_kexec(NULL);\n")
    d = derive_policy(tree(tmp_path, src))
    assert list(d.program) == [("panic_entry", ""), ("panic_other_cpus_shutdown", ""),
                               ("notifier_chain", ""), ("panic_print_sys_info", ""),
                               ("kmsg_dump", ""), ("crash_kexec", ""),
                               ("console_flush_on_panic", ""), ("panic_timeout", "")]
    notifiers = "\tatomic_notifier_call_chain(&panic_notifier_list, 0, buf);\n"
    dump = "\tkmsg_dump(KMSG_DUMP_PANIC);\n"
    swapped = PANIC_C.replace(notifiers, "@@").replace(dump, notifiers).replace("@@", dump)
    steps = [s for s, _ in derive_policy(tree(tmp_path, swapped)).program]
    assert steps.index("kmsg_dump") < steps.index("notifier_chain")


def test_old_shape_with_else_branch(tmp_path: Path) -> None:
    """4.9 .. 5.x: crash_kexec + smp_send_stop without post, crash_smp_send_stop in the
    else branch (kernel/panic.c v5.10)."""
    src = PANIC_C.replace(
        "\tif (!_crash_kexec_post_notifiers)\n\t\t__crash_kexec(NULL);\n"
        "\tpanic_other_cpus_shutdown(_crash_kexec_post_notifiers);\n",
        "\tif (!_crash_kexec_post_notifiers) {\n\t\tprintk_safe_flush_on_panic();\n"
        "\t\t__crash_kexec(NULL);\n\t\tsmp_send_stop();\n\t} else {\n"
        "\t\tcrash_smp_send_stop();\n\t}\n")
    d = derive_policy(tree(tmp_path, src))
    assert list(d.program)[:5] == [("panic_entry", ""), ("crash_kexec", "!post"),
                                   ("smp_send_stop", "!post"), ("crash_smp_send_stop", "post"),
                                   ("notifier_chain", "")]
    assert "printk_safe_flush_on_panic" in [u.name for u in d.unmodelled]


def test_a_helper_that_does_not_match_is_walked(tmp_path: Path) -> None:
    """A patched panic_other_cpus_shutdown that always uses crash_smp_send_stop is not the
    model's step: its calls are taken one by one (the backtrace is then unmodelled)."""
    src = PANIC_C.replace("\tif (!crash_kexec)\n\t\tsmp_send_stop();\n\telse\n\t\t"
                          "crash_smp_send_stop();\n", "\tcrash_smp_send_stop();\n")
    d = derive_policy(tree(tmp_path, src))
    assert ("crash_smp_send_stop", "") in d.program
    assert ("panic_other_cpus_shutdown", "") not in d.program
    assert "trigger_all_cpu_backtrace" in [u.name for u in d.unmodelled]
    assert "panic_other_cpus_shutdown" not in {f for f, _ in d.features}


def test_vpanic_wrapper(tmp_path: Path) -> None:
    src = (PANIC_C.replace("void panic(const char *fmt, ...)", "void vpanic(const char *fmt, "
                           "va_list args)")
           + "void panic(const char *fmt, ...)\n{\n\tva_list args;\n\tva_start(args, fmt);\n"
             "\tvpanic(fmt, args);\n\tva_end(args);\n}\n")
    d = derive_policy(tree(tmp_path, src))
    assert d.function == "vpanic" and list(d.program) == LINUX_6_1
    assert "vpanic" in {f for f, _ in d.features}


@pytest.mark.parametrize(("what", "makefile", "panic_c", "message"), [
    ("no makefile", None, PANIC_C, "no Makefile"),
    ("bad makefile", "all:\n\techo\n", PANIC_C, "no VERSION and PATCHLEVEL"),
    ("no panic", MAKEFILE, "int x;\n", "no definition of panic()"),
    ("no steps", MAKEFILE, "void panic(const char *f, ...)\n{\n\tlocal_irq_disable();\n}\n",
     "no recognisable step"),
    ("broken", MAKEFILE, "void panic(const char *f, ...)\n{\n\tif (x {\n\t__crash_kexec(NULL);\n}\n",
     "does not parse"),
])
def test_bad_trees(tmp_path: Path, what: str, makefile: str | None, panic_c: str,
                   message: str) -> None:
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel" / "panic.c").write_text(panic_c)
    if makefile is not None:
        (tmp_path / "Makefile").write_text(makefile)
    with pytest.raises(DeriveError, match=message):
        derive_policy(tmp_path)


def test_cli_policy_out_round_trip(tmp_path: Path) -> None:
    t = tree(tmp_path / "t")
    out = tmp_path / "p.toml"
    r = CliRunner().invoke(main, ["scan", str(t), "--policy-out", str(out)])
    assert r.exit_code == 0, r.output
    assert "unmodelled: dump_stack (kernel/panic.c:" in r.stdout
    p = load_policy_file(out)
    assert p == derive_policy(t).policy()
    r = CliRunner().invoke(main, ["scan", str(t), "--policy-out", str(out), "--json"])
    doc = json.loads(r.stdout)["policy"]
    assert doc["name"] == p.name and doc["policy_file"] == str(out) and doc["function"] == "panic"
    assert [(o["step"], o["when"]) for o in doc["program"]] == LINUX_6_1
    assert doc["unmodelled"][0]["name"] == "dump_stack"
    r = CliRunner().invoke(main, ["compare", "--policy-file", str(out), "--policy", p.name,
                                  "--arch", "x86_64", "--no-faults", "--workers", "1", "--json"])
    assert r.exit_code == 0, r.output
    assert "unmodelled" in r.stderr and "dump_stack (kernel/panic.c:" in r.stderr
    assert r.stderr.count("\n") == 1
    assert json.loads(r.stdout)["policies"] == [p.name]


@pytest.mark.parametrize("args", [
    ["scan"],
    ["scan", ".", "--source", "6.1"],
    ["scan", "--source", "six", "--policy-out", "x.toml"],
])
def test_cli_bad_choice(args: list[str]) -> None:
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.output


def test_cli_policy_out_not_a_tree(tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    r = CliRunner().invoke(main, ["scan", str(tmp_path), "--policy-out",
                                  str(tmp_path / "p.toml")])
    assert r.exit_code == 2 and "no Makefile" in r.stderr
    assert not (tmp_path / "p.toml").exists()


def test_extract_members_of_a_tarball(tmp_path: Path) -> None:
    buf = tmp_path / "linux-9.9.tar.gz"
    with tarfile.open(buf, "w:gz") as tf:
        for name, body in (("linux-9.9/Makefile", MAKEFILE), ("linux-9.9/kernel/panic.c", PANIC_C),
                           ("linux-9.9/kernel/sched/core.c", "int x;\n")):
            data = body.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    out = tmp_path / "x"
    extract_members(buf, out)
    assert (out / "kernel" / "panic.c").is_file() and not (out / "kernel" / "sched").exists()
    assert list(derive_policy(out).program) == LINUX_6_1
    r = CliRunner().invoke(main, ["scan", str(buf), "--policy-out", str(tmp_path / "p.toml"),
                                  "--no-cache"])
    assert r.exit_code == 0, r.output
    assert load_policy_file(tmp_path / "p.toml").program == derive_policy(out).policy().program
    empty = tmp_path / "e.tar"
    with tarfile.open(empty, "w"):
        pass
    with pytest.raises(SourceError, match="not a kernel source tarball"):
        extract_members(empty, tmp_path / "y")
