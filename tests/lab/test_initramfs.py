"""The newc cpio writer, checked by the real cpio tool; guest userspace per arch (ELF
libraries, busybox applets) checked against ldd and busybox on the host."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from panicpath.lab.initramfs import (
    BUSYBOX,
    ELF_ARCH,
    KEXEC,
    GuestTools,
    base_entries,
    busybox_applets,
    chardev,
    directory,
    elf_info,
    guest_tools,
    library_files,
    newc,
    regular,
    resolve_in,
    symlink,
)
from panicpath.lab.kernels import KernelFiles, LabSetupError, carried_kernels, ensure_kernel


def test_newc_archive_lists_and_extracts_with_cpio(tmp_path: Path) -> None:
    data = newc([directory("bin"), regular("bin/x", b"hello\n", 0o755),
                 symlink("bin/y", "x"), regular("odd", b"123"), chardev("console", 5, 1)])
    listing = subprocess.run(["cpio", "-tv"], input=data, capture_output=True, check=True)
    lines = listing.stdout.decode().splitlines()
    assert [ln.split()[-1] if "->" not in ln else ln.split()[-3] for ln in lines] == [
        "bin", "bin/x", "bin/y", "odd", "console"]
    assert lines[1].startswith("-rwxr-xr-x") and lines[4].startswith("crw-------")
    subprocess.run(["cpio", "-id", "--quiet", "--no-absolute-filenames"], input=data,
                   cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "bin/x").read_bytes() == b"hello\n"
    assert (tmp_path / "odd").read_bytes() == b"123"
    assert (tmp_path / "bin/y").readlink() == Path("x")


def test_newc_is_deterministic_and_aligned() -> None:
    a = newc([regular("a", b"1"), regular("bb", b"22")])
    assert a == newc([regular("a", b"1"), regular("bb", b"22")])
    assert len(a) % 4 == 0
    assert a.endswith(b"TRAILER!!!\0" + b"\0" * (len(a) - a.rindex(b"TRAILER!!!") - 11))


# --- guest userspace per architecture ------------------------------------------------------





def test_elf_and_library_closure_match_ldd_on_the_host() -> None:
    """The ELF reader finds what the dynamic linker loads: same files as ldd."""
    info = elf_info(KEXEC.read_bytes())
    assert info.machine == 62 and info.interp == "/lib64/ld-linux-x86-64.so.2"
    assert "libc.so.6" in info.needed
    ldd = subprocess.run(["ldd", str(KEXEC)], capture_output=True, text=True, check=True).stdout
    expected = {p.lstrip("/") for p in re.findall(r"(/\S+) \(0x", ldd)}
    names = [n for n, _ in library_files(KEXEC, Path("/"), "x86_64")]
    assert len(names) == len(set(names)) and set(names) == expected
    assert elf_info(BUSYBOX.read_bytes()).needed == ()            # static


def test_busybox_applets_read_from_the_binary_match_its_list() -> None:
    listed = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert busybox_applets(BUSYBOX.read_bytes()) == sorted(listed)


def test_resolve_in_keeps_absolute_symlinks_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "lib/aarch64-linux-gnu").mkdir(parents=True)
    (tmp_path / "lib/aarch64-linux-gnu/ld-2.36.so").write_bytes(b"guest")
    (tmp_path / "lib/ld-linux-aarch64.so.1").symlink_to("/lib/aarch64-linux-gnu/ld-2.36.so")
    (tmp_path / "lib64").symlink_to("lib")
    (tmp_path / "usr").mkdir()
    (tmp_path / "usr/lib").symlink_to("../lib")
    for p in ("/lib/ld-linux-aarch64.so.1", "lib64/ld-linux-aarch64.so.1",
              "/usr/lib/aarch64-linux-gnu/ld-2.36.so"):
        assert resolve_in(tmp_path, p).read_bytes() == b"guest", p


@pytest.mark.parametrize("arch", ["arm64", "ppc64el"])
def test_foreign_guest_tools_are_of_the_guest_arch(arch: str) -> None:
    tools = guest_tools(arch)
    machine, triplet = ELF_ARCH[arch]
    assert elf_info(tools.busybox.read_bytes()).needed == ()
    assert elf_info(tools.kexec.read_bytes()).machine == machine
    libs = library_files(tools.kexec, tools.root, arch)
    interp = elf_info(tools.kexec.read_bytes()).interp
    assert interp and libs[0][0] == interp.lstrip("/")
    assert f"lib/{triplet}/libc.so.6" in [n for n, _ in libs]
    for _, real in libs:
        assert real.is_relative_to(tools.root) and elf_info(real.read_bytes()).machine == machine
    assert len(busybox_applets(tools.busybox.read_bytes())) > 200


def test_arm64_base_archive_layout_and_modules() -> None:
    kernel = ensure_kernel("cloud-arm64", release="6.1", arch="arm64")
    entries = {e.name: e for e in base_entries(kernel)}
    for name in ("init", "bin/busybox", "bin/kexec", "bin/sh", "sbin", "dev/console",
                 "lib/ld-linux-aarch64.so.1", f"lib/modules/{kernel.release}/ramoops.ko"):
        assert name in entries, name
    assert entries["bin/sh"].data == b"busybox"
    assert elf_info(entries["bin/kexec"].data).machine == 183
    # Debian's arm64 6.1 config has no CONFIG_PVPANIC: the module is left out, not an error
    assert "CONFIG_PVPANIC=" not in kernel.config.read_text()
    assert not [n for n in entries if "pvpanic" in n]
    x86 = GuestTools("x86_64", Path("/"), BUSYBOX, KEXEC)
    with pytest.raises(LabSetupError, match="not a arm64 binary"):
        base_entries(kernel, x86)


def test_x86_64_base_archive_keeps_the_pvpanic_modules(lab_kernel: KernelFiles) -> None:
    names = [e.name for e in base_entries(lab_kernel)]
    assert f"lib/modules/{lab_kernel.release}/pvpanic-mmio.ko" in names
    assert f"lib/modules/{lab_kernel.release}/pvpanic.ko" in names
    assert "lib64/ld-linux-x86-64.so.2" in names


def test_arm64_7x_compressed_modules_go_in_plain() -> None:
    """Debian's 6.12 and later modules are .ko.xz; the archive carries them plain."""
    newest = max((k for k in carried_kernels() if k.arch == "arm64"
                  and k.flavour == "cloud-arm64"),
                 key=lambda k: tuple(int(x) for x in k.release.split(".")))
    kernel = ensure_kernel("cloud-arm64", release=newest.release, arch="arm64")
    assert (kernel.modules / "fs/pstore/ramoops.ko.xz").exists()
    entries = {e.name: e for e in base_entries(kernel)}
    ramoops = entries[f"lib/modules/{kernel.release}/ramoops.ko"].data
    assert elf_info(ramoops).machine == 183


def _fake_kernel(root: Path, release: str, config: str, modules: list[str]) -> KernelFiles:
    k = KernelFiles("cloud-amd64", release, root, "x86_64", release[:4])
    (root / "boot").mkdir(parents=True)
    k.config.write_text(config)
    for rel in modules:
        (k.modules / rel).parent.mkdir(parents=True, exist_ok=True)
        (k.modules / rel).write_bytes(f"module {rel}".encode())
    return k


def test_modules_of_the_5_10_layout_and_missing_ones(tmp_path: Path) -> None:
    """5.10 has one drivers/misc/pvpanic.ko (CONFIG_PVPANIC=m) and no pvpanic-mmio;
    a module the config builds but the unpack lacks is an error naming the fix."""
    config = "CONFIG_PVPANIC=m\nCONFIG_PSTORE_RAM=m\nCONFIG_REED_SOLOMON=m\n"
    mods = ["drivers/misc/pvpanic.ko", "fs/pstore/ramoops.ko",
            "lib/reed_solomon/reed_solomon.ko"]
    k = _fake_kernel(tmp_path / "a", "5.10.0-46-cloud-amd64", config, mods)
    got = {e.name: e.data for e in base_entries(k) if e.name.startswith("lib/modules/")}
    prefix = "lib/modules/5.10.0-46-cloud-amd64/"
    assert {n for n in got if n.endswith(".ko")} == {
        prefix + "pvpanic.ko", prefix + "ramoops.ko", prefix + "reed_solomon.ko"}
    assert got[prefix + "pvpanic.ko"] == b"module drivers/misc/pvpanic.ko"
    broken = _fake_kernel(tmp_path / "b", "5.10.0-46-cloud-amd64", config, mods[1:])
    with pytest.raises(LabSetupError, match=r"drivers/misc/pvpanic/pvpanic.ko missing .* rm -rf"):
        base_entries(broken)
