#!/usr/bin/env bash
# Installs everything panicpath's tests need on a fresh Debian bookworm machine:
# Debian packages (QEMU and the lab's guest tools, the 6.1 kernel source tree the
# scanner is tested on, SPIN, Chromium) and the Python package with its test extras and
# the ray extra (compare/check --ray, tests/check/test_ray.py).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
APT_PKGS=(qemu-system-x86 qemu-utils busybox-static kexec-tools cpio xz-utils
          linux-source-6.1 spin chromium
          gcc-12 make  # lab: build the probe module against the downloaded linux-headers
          ripgrep  # scan: fast byte pre-filter on a directory (falls back to grep without it)
          qemu-system-arm qemu-system-ppc  # lab: arm64 (-M virt) and ppc64el (-M pseries) guests
          gcc-aarch64-linux-gnu gcc-powerpc64le-linux-gnu  # lab: cross-built probe modules
          patchelf  # lab: newer suites' kbuild tools run against their own glibc (hosttools)
          )
missing=()
for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "install-deps: apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO dpkg --configure -a || true
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
python3 -m pip install -q --disable-pip-version-check -e '.[test,ray]' 2>&1 | grep -v -E "^(WARNING|\s*$)" || true
