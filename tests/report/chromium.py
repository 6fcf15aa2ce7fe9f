"""Drive Debian's headless Chromium on a local file: the DOM after scripts ran, the console
messages it logged, a screenshot. No network (every background service disabled)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0")
CONSOLE = re.compile(r":CONSOLE[:(]\d*\)?\] (.*)")


@dataclass(frozen=True)
class Page:
    """What Chromium made of a page."""

    dom: str
    console: tuple[str, ...]


def available() -> bool:
    return Path(CHROMIUM).exists()


def _run(url: str, extra: tuple[str, ...], timeout: int = 120) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="panicpath-chromium-") as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=timeout, check=False)


def load(path: Path, fragment: str = "") -> Page:
    """Load the file, let its scripts run, return the serialised DOM and console lines."""
    url = path.resolve().as_uri() + (f"#{fragment}" if fragment else "")
    p = _run(url, ("--dump-dom",))
    console = tuple(m.group(1) for m in CONSOLE.finditer(p.stderr))
    return Page(p.stdout, console)


def screenshot(path: Path, out: Path) -> None:
    """Write a PNG screenshot of the page."""
    _run(path.resolve().as_uri(), (f"--screenshot={out}", "--window-size=1280,1600"))
