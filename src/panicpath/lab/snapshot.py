"""Restore a guest from a QEMU snapshot instead of booting it: what a snapshot is keyed by,
what a scenario sends to the restored guest, and the on-disk store of snapshots.

A snapshot is taken when the first kernel's ``/init`` has loaded pvpanic, ramoops
and the crash kernel (``kexec -p``) and waits for a line on the console
(``LABMARK WAITING``, kernel parameter ``lab.wait=1``). It is saved with HMP
``savevm`` (QEMU 7.2 migration/savevm.c save_snapshot()) into a qcow2 image
attached with ``-drive if=none`` and restored by a later QEMU started with the
same argv plus ``-loadvm`` (load_snapshot()).

What may differ between the scenarios that share a snapshot is what the kernel
lets a running system change; it is sent to the restored guest as one console
line and applied by ``/init`` before it loads the probe and triggers the panic:

- ``crash_kexec_post_notifiers`` through /sys/module/kernel/parameters
  (kernel/panic.c ``core_param(crash_kexec_post_notifiers, ..., bool, 0644)``, 6.1);
- ``panic_print`` and ``panic`` through /proc/sys/kernel (kernel/sysctl.c
  kern_table ``panic_print``, ``panic``; the same variables as the boot
  parameters, kernel/panic.c core_param, 6.1);
- ``unknown_nmi_panic`` through /proc/sys/kernel (kernel/sysctl.c, the variable
  that arch/x86/kernel/nmi.c setup_unknown_nmi_panic() sets at boot, 6.1);
- the trigger, and the probe module itself (base64 lines after the ``GO`` line;
  the console tty is canonical, so lines stay far below N_TTY_BUF_SIZE, 4096).

Everything else (crash kernel and its reservation, ramoops' ``memmap=``, extra
kernel parameters, pvpanic, CPUs, memory, the kernel and initrd files, the QEMU
version) is part of the snapshot key: the argv that boots the guest, with the
QMP socket and the panic action left out (neither is guest state).

The store (``CACHE/snapshots/KEY/``) holds ``vm.qcow2`` (the image with the
snapshot), ``snapshot.json`` (the console lines of the boot it was taken in,
replayed into each restored run's log and parser) and ``slot-N.qcow2`` copies:
``-loadvm`` opens its image read-write and QEMU locks it, so each guest running
at the same time restores from its own image, chosen under a ``flock``.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from panicpath.lab.kernels import LabSetupError
from panicpath.lab.qemu import QEMU
from panicpath.lab.scenario import LabScenario, Trigger

#: Name of the internal snapshot inside the qcow2 image.
SNAPSHOT_TAG = "panicpath"
#: Bumped when what a snapshot holds or how it is used changes.
STORE_VERSION = 1
#: Base64 characters per line sent to the guest.
B64_LINE = 76
#: The image's virtual size: it holds no disk data, only the VM state.
IMAGE_SIZE = "1M"

ConsoleLines = tuple[tuple[float, str], ...]


@dataclass(frozen=True)
class RuntimeSettings:
    """What a scenario sets in a restored guest before it triggers the panic."""

    post_notifiers: bool
    panic_print: int
    panic_timeout: int
    unknown_nmi_panic: bool
    trigger: Trigger


def runtime_settings(scenario: LabScenario) -> RuntimeSettings:
    """The run-time part of a scenario (the rest is in the snapshot key)."""
    return RuntimeSettings(
        post_notifiers=scenario.post_notifiers,
        panic_print=scenario.panic_print,
        panic_timeout=scenario.panic_timeout,
        unknown_nmi_panic=scenario.trigger == "nmi",
        trigger=scenario.trigger,
    )


def go_lines(settings: RuntimeSettings, probe: bytes | None) -> tuple[str, ...]:
    """The console lines for a guest waiting at ``LABMARK WAITING``: one ``GO`` line
    with ``key=value`` settings (numbers in decimal), then the probe module, gzipped,
    in base64 lines; ``md5=`` lets ``/init`` check what it received."""
    payload = base64.b64encode(gzip.compress(probe, mtime=0)).decode() if probe else ""
    chunks = [payload[i:i + B64_LINE] for i in range(0, len(payload), B64_LINE)]
    go = (f"GO post={int(settings.post_notifiers)} print={settings.panic_print} "
          f"panic={settings.panic_timeout} nmi={int(settings.unknown_nmi_panic)} "
          f"trigger={settings.trigger} probe={len(chunks)}")
    if probe:
        go += f" md5={hashlib.md5(probe, usedforsecurity=False).hexdigest()}"
    return (go, *chunks)


@functools.cache
def qemu_version() -> str:
    """First line of ``qemu-system-x86_64 --version`` (part of every snapshot key)."""
    proc = subprocess.run([QEMU, "--version"], capture_output=True, text=True, check=False)
    return (proc.stdout.splitlines() or ["unknown"])[0]


_DROPPED = ("-qmp", "-action")
_FILES = ("-kernel", "-initrd")


def snapshot_key(cmd: Sequence[str], version: str) -> str:
    """Key of the snapshot a QEMU argv (booting with ``lab.wait=1``) can share.

    The QMP socket and the panic action are left out; the kernel and initrd are
    identified by path, size and mtime."""
    parts: list[str] = [f"v{STORE_VERSION}", version]
    it = iter(cmd)
    for arg in it:
        if arg in _DROPPED:
            next(it, None)
            continue
        parts.append(arg)
        if arg in _FILES:
            path = Path(next(it, ""))
            st = path.stat()
            parts.append(f"{path}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def drive_args(image: Path) -> list[str]:
    """QEMU arguments attaching the snapshot image (no guest device uses it)."""
    return ["-drive", f"if=none,id=ppsnap,format=qcow2,file={image}"]


def restore_args(image: Path) -> list[str]:
    """QEMU arguments restoring the snapshot from an image."""
    return [*drive_args(image), "-loadvm", SNAPSHOT_TAG]


def create_image(path: Path) -> None:
    """An empty qcow2 image to savevm into."""
    if shutil.which("qemu-img") is None:
        raise LabSetupError("qemu-img not found (needed for snapshots); "
                            "run: apt-get install qemu-utils, or pass --no-snapshot")
    proc = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), IMAGE_SIZE],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise LabSetupError(f"qemu-img create {path} failed: {proc.stderr.strip()}")


@dataclass(frozen=True)
class SnapshotStore:
    """The cached snapshot of one key: ``root`` = CACHE/snapshots/KEY."""

    root: Path

    @property
    def master(self) -> Path:
        return self.root / "vm.qcow2"

    @property
    def meta(self) -> Path:
        return self.root / "snapshot.json"

    def ready(self) -> bool:
        """Whether a snapshot has been committed."""
        return self.master.exists() and self.meta.exists()

    def boot_lines(self) -> ConsoleLines:
        """Console lines (host seconds, text) of the boot the snapshot was taken in."""
        doc = json.loads(self.meta.read_text(encoding="utf-8"))
        return tuple((float(t), str(text)) for t, text in doc["lines"])

    def new_image(self) -> Path:
        """A fresh, uniquely named image to savevm into (see ``commit``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"new-{os.getpid()}-{time.monotonic_ns()}.qcow2"
        create_image(path)
        return path

    def commit(self, image: Path, lines: ConsoleLines, info: dict[str, object]) -> bool:
        """Make ``image`` (its QEMU has exited) this key's snapshot, unless another
        run committed first. The metadata is written before the image appears."""
        if self.ready():
            return False
        tmp = self.meta.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**info, "lines": [list(x) for x in lines]}) + "\n",
                       encoding="utf-8")
        tmp.replace(self.meta)
        try:
            os.link(image, self.master)
        except FileExistsError:
            return False
        return True

    def invalidate(self) -> None:
        """Forget this snapshot (its restore failed); the next run takes a new one."""
        for path in (self.meta, self.master, *self.root.glob("slot-*.qcow2")):
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def slot(self) -> Iterator[Path]:
        """An image holding the snapshot that no other guest uses while the context
        lasts: the master itself for slot 0, a copy of it for the others."""
        for n in range(64):
            lock = (self.root / f"slot-{n}.lock").open("a")
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.close()
                continue
            try:
                # slot 0 is the master: if it vanished (invalidated), -loadvm fails and
                # the caller takes a new snapshot
                image = self.master if n == 0 else self.root / f"slot-{n}.qcow2"
                if n > 0 and not image.exists():
                    tmp = image.with_suffix(f".{os.getpid()}.tmp")
                    shutil.copyfile(self.master, tmp)
                    tmp.replace(image)
                yield image
                return
            finally:
                lock.close()
        raise LabSetupError(f"{self.root}: all 64 snapshot slots are in use")


def store_for(cache: Path, cmd: Sequence[str]) -> SnapshotStore:
    """The store of the snapshot a snapshot-mode argv shares."""
    return SnapshotStore(cache / "snapshots" / snapshot_key(cmd, qemu_version()))
