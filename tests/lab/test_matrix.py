"""panicpath.lab.matrix: the cells of a matrix, why a cell does not apply, the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from panicpath.lab import cli
from panicpath.lab.matrix import Cell, not_applicable, plan, write_report
from panicpath.lab.scenario import builtin_scenarios_dir, load_scenario, parse_scenario
from tests.report import chromium

CARRIED = frozenset({("6.1", "x86_64"), ("6.1", "arm64"), ("6.12", "x86_64")})


def test_plan_crosses_scenarios_releases_and_arches_in_order() -> None:
    a = parse_scenario('name = "a"\n[devices]\npvpanic = false\n', Path("a.toml"))
    b = parse_scenario('name = "b"\n[trigger]\nkind = "nmi"\n', Path("b.toml"))
    cells = plan([a, b], ["6.1", "6.12"], ["x86_64", "arm64"], CARRIED)
    assert [(s.name, s.release, s.arch) for s, _ in cells] == [
        (n, r, x) for n in "ab" for r in ("6.1", "6.12") for x in ("x86_64", "arm64")]
    why = {(s.name, s.release, s.arch): reason for s, reason in cells}
    assert why[("a", "6.1", "x86_64")] == "" and why[("a", "6.1", "arm64")] == ""
    assert why[("a", "6.12", "arm64")] == "the archive carries no 6.12 kernel for arm64"
    assert "inject-nmi does not panic arm64" in why[("b", "6.1", "arm64")]
    assert "pvpanic" in why[("b", "6.1", "arm64")]
    assert why[("b", "6.12", "x86_64")] == ""


def test_a_cell_moves_the_scenario_to_its_kernel() -> None:
    sc = load_scenario(builtin_scenarios_dir() / "kdump_no_post_notifiers.toml")
    (moved, reason), = plan([sc], ["6.12"], ["x86_64"], CARRIED)
    assert (moved.release, moved.arch, moved.flavour, reason) == ("6.12", "x86_64",
                                                                    sc.flavour, "")
    assert not_applicable(moved, frozenset()) != ""


def _cells() -> list[Cell]:
    return [Cell("kdump", "6.1", "x86_64"),
            Cell("kdump", "6.1", "arm64", "[devices] pvpanic: arm64 has no pvpanic device"),
            Cell("nmi", "6.1", "x86_64"),
            Cell("nmi", "6.1", "arm64", "QMP inject-nmi does not panic arm64")]


def test_report_json_keeps_every_cell_and_its_reason(tmp_path: Path) -> None:
    js, html = write_report(_cells(), tmp_path)
    doc = json.loads(js.read_text())
    assert [(d["scenario"], d["arch"], d["status"]) for d in doc] == [
        ("kdump", "x86_64", "planned"), ("kdump", "arm64", "n/a"),
        ("nmi", "x86_64", "planned"), ("nmi", "arm64", "n/a")]
    assert doc[1]["reason"].startswith("[devices] pvpanic")
    assert html.exists()


@pytest.mark.chromium
def test_matrix_page_in_chromium(tmp_path: Path) -> None:
    """The page as a browser builds it: one row per scenario, one column per kernel, each
    cell a link to its drill-down, which names the reason."""
    _, html = write_report(_cells(), tmp_path, tmp_path / "m.html")
    page = chromium.load(html)
    assert page.console == ()
    assert page.dom.count('data-status="n/a"') == 2
    assert 'href="#nmi-6.1-arm64"' in page.dom and 'id="nmi-6.1-arm64"' in page.dom
    assert "Not applicable: QMP inject-nmi does not panic arm64" in page.dom
    assert "0 agree, 0 differ, 2 not applicable, of 4 cells" in page.dom


def test_matrix_command_refuses_bad_lists_in_one_line(tmp_path: Path) -> None:
    d = builtin_scenarios_dir()
    for args, needle in ((["--releases", "6.1,latest"], "'latest' is not a kernel series"),
                         (["--arches", "x86_64,sparc"], "unknown arch 'sparc'"),
                         (["--releases", ","], "empty")):
        r = CliRunner().invoke(cli.lab_group, ["matrix", str(d), "--dry-run", *args])
        assert r.exit_code == 2 and needle in r.stderr and len(r.stderr.splitlines()) == 1
    r = CliRunner().invoke(cli.lab_group, ["matrix", str(tmp_path), "--dry-run"])
    assert r.exit_code == 2 and "no *.toml scenario files" in r.stderr


def _series(release: str) -> tuple[int, int]:
    major, _, minor = release.partition(".")
    return int(major), int(minor)


@pytest.mark.qemu
def test_real_kernels_agree_across_releases_and_arches(tmp_path: Path) -> None:
    """Issue 15, for real: one scenario on every release the archive carries for x86_64, on
    arm64 6.1 and the newest arm64, on ppc64el 6.1 (kdump first, without a crash
    kernel: pseries' os-term then QEMU runs on, and a hanging notifier after the crash
    stop deferred printk), each predicted with its release's
    policy and its arch's model, all agreeing; and the seeds' arm64 claim (seeds 001, 004):
    a CPU spinning with interrupts off is not stopped by arm64's IPI, so its registers are
    missing from the vmcore and it keeps writing memory under the dump, where x86's NMI
    stops it and saves them (post notifiers: the stop comes before the notifiers)."""
    from panicpath.lab.conformance import find_predictor
    from panicpath.lab.kernels import carried_kernels
    from panicpath.lab.matrix import run_matrix
    from panicpath.lab.scenario import with_kernel

    carried = frozenset((k.release, k.arch) for k in carried_kernels())
    x86 = sorted({r for r, a in carried if a == "x86_64"}, key=_series)
    arm = max((r for r, a in carried if a == "arm64"), key=_series)
    assert {"5.10", "6.1", "6.12"} <= set(x86)
    portable = load_scenario(builtin_scenarios_dir() / "portable_post_notifiers_order.toml")
    deaf = load_scenario(builtin_scenarios_dir() / "portable_ipi_deaf_dma_post.toml")
    runs_on = load_scenario(builtin_scenarios_dir() / "portable_no_kdump_host_runs_on.toml")
    kernels = [*((r, "x86_64") for r in x86), ("6.1", "arm64"), (arm, "arm64")]
    cells = [(with_kernel(portable, r, a), "") for r, a in kernels]
    kdump_first = load_scenario(builtin_scenarios_dir() / "portable_kdump_first.toml")
    hanging = load_scenario(builtin_scenarios_dir() / "portable_hanging_callback_post.toml")
    cells += [(with_kernel(deaf, "6.1", "arm64"), ""), (with_kernel(deaf, "6.1", "x86_64"), ""),
              (with_kernel(runs_on, "6.1", "ppc64el"), ""),
              (with_kernel(kdump_first, "6.1", "ppc64el"), ""),
              (with_kernel(hanging, "6.1", "ppc64el"), ""),
              (with_kernel(hanging, "6.1", "x86_64"), "")]
    # issue 16: every fault that applies, on arm64 too (x86_64: tests/lab/test_runner.py's
    # campaign runs every shipped scenario)
    faults_arm64 = ("portable_corrupted_list_post", "portable_corrupted_list_kdump_first",
                    "portable_concurrent_panic_post", "portable_lock_held_post")
    cells += [(with_kernel(load_scenario(builtin_scenarios_dir() / f"{n}.toml"), "6.1",
                           "arm64"), "") for n in faults_arm64]
    # and ipi-deaf-cpu on ppc64el: pseries' NMI IPI (system reset) reaches it
    deaf_kdump = load_scenario(builtin_scenarios_dir() / "portable_ipi_deaf_cpu_kdump.toml")
    cells.append((with_kernel(deaf_kdump, "6.1", "ppc64el"), ""))
    results = run_matrix(cells, 2, tmp_path, find_predictor())
    bad = [(c.scenario, c.release, c.arch, c.status, c.to_json().get("differences"),
            c.to_json().get("log")) for c in results if c.status != "agree"]
    assert bad == []
    saved = {c.arch: c.entry.run.observation.vmcore_cpus_saved for c in results
             if c.scenario == deaf.name and c.entry is not None}
    assert saved == {"arm64": 1, "x86_64": 2}
    # ... and memory written under the dump on arm64 only (issue 16)
    changed = {c.arch: c.entry.run.observation.vmcore_page_changed for c in results
               if c.scenario == deaf.name and c.entry is not None}
    assert changed == {"arm64": True, "x86_64": False}
    # arm64's panic_smp_self_stop() takes the loser offline: the crash stop skips it
    concurrent = next(c for c in results if c.scenario == "portable_concurrent_panic_post")
    assert concurrent.entry is not None
    assert concurrent.entry.run.observation.vmcore_cpus_saved == 1
    with_policy = {(c.release, c.arch): c.to_json()["predicted_with"] for c in results
                   if c.scenario == portable.name}
    assert with_policy[("5.10", "x86_64")]["policy"] == "linux-5.0"  # type: ignore[index]
    ppc = next(c for c in results if c.arch == "ppc64el" and c.scenario == runs_on.name)
    ppc_kdump = next(c for c in results if c.scenario == kdump_first.name)
    assert ppc_kdump.entry is not None and ppc_kdump.entry.run.observation.vmcore_seen
    assert ppc.to_json()["predicted_with"]["arch"] == "powerpc"  # type: ignore[index]
    # powerpc's crash stop defers printk (crash_kexec_prepare: printk_deferred_enter), so a
    # notifier that never returns leaves 'high' in the log buffer; x86 prints it at once
    shown = {c.arch: [r.name for r in c.entry.run.observation.callbacks] for c in results
             if c.scenario == hanging.name and c.entry is not None}
    assert "high" in shown["x86_64"] and "high" not in shown["ppc64el"]
    # pseries: the dumper runs in pseries_panic (panic_flush_kmsg_end) and again in panic()
    assert ppc.entry is not None and ppc.entry.run.observation.kmsg_dump_reasons == (
        "Panic", "Panic")
