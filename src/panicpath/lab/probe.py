"""The probe module: C source generated from a scenario, built against the headers.

The module registers the scenario's panic notifiers on ``panic_notifier_list``
with ``atomic_notifier_chain_register`` in the scenario's order (Linux 6.1
kernel/notifier.c notifier_chain_register() keeps the chain sorted by priority,
equal priorities in registration order) and its kmsg dumpers with
``kmsg_dump_register`` (kernel/printk/printk.c). Every callback prints a
``LABPANIC`` marker that panicpath.lab.console parses. Behaviours: return
NOTIFY_STOP (kernel/notifier.c notifier_call_chain() stops walking the chain),
spin with ``mdelay``, or take a raw spinlock that a kthread bound to another
CPU took at load time and never released.

Built modules are stripped of debug information and cached by (kernel release,
source hash).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import jinja2

from panicpath.lab.kernels import KernelFiles, LabSetupError, cache_dir
from panicpath.lab.scenario import LabScenario

MODULE_NAME = "panicpath_probe"
_TEMPLATES = Path(__file__).resolve().parent / "templates"
#: Part of the cache key: bumped when the build steps change (2: debug info stripped).
_BUILD_VERSION = "2\n"


def render_probe(scenario: LabScenario) -> str:
    """The probe module's C source for a scenario."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    return env.get_template("probe.c.j2").render(
        scenario=scenario.name,
        notifiers=scenario.notifiers,
        dumpers=scenario.dumpers,
        uses_lock=any(n.behaviour == "lock" for n in scenario.notifiers),
    )


def build_probe(scenario: LabScenario, kernel: KernelFiles, cache: Path | None = None) -> Path:
    """The probe ``.ko`` for a scenario, built once per source and kernel."""
    source = render_probe(scenario)
    digest = hashlib.sha256((_BUILD_VERSION + source).encode()).hexdigest()[:16]
    out_dir = (cache or cache_dir()) / "probes" / kernel.release / digest
    ko = out_dir / f"{MODULE_NAME}.ko"
    if ko.exists():
        return ko
    for tool, pkg in (("make", "make"), ("x86_64-linux-gnu-gcc-12", "gcc-12")):
        if shutil.which(tool) is None:
            raise LabSetupError(f"{tool} not found (needed to build the probe module); "
                                f"run: apt-get install {pkg}")
    work = out_dir.with_name(digest + ".build")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    (work / f"{MODULE_NAME}.c").write_text(source)
    (work / "Makefile").write_text(f"obj-m := {MODULE_NAME}.o\n")
    proc = subprocess.run(
        ["make", "-s", "-C", str(kernel.build), f"M={work}", "modules"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0 or not (work / f"{MODULE_NAME}.ko").exists():
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        raise LabSetupError(f"probe module build failed in {work}: {tail}; "
                            f"run: apt-get install gcc-12 make")
    # Without debug information the module is ~8 KiB instead of ~130 KiB: smaller
    # initrds, and a short transfer over the console to a restored guest.
    subprocess.run(["strip", "--strip-debug", str(work / f"{MODULE_NAME}.ko")],
                   capture_output=True, check=False)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(work / f"{MODULE_NAME}.ko", ko.with_suffix(".tmp"))
    ko.with_suffix(".tmp").rename(ko)
    shutil.rmtree(work, ignore_errors=True)
    return ko
