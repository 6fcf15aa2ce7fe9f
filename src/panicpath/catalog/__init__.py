"""The catalog of real callbacks by their fixed names."""

from __future__ import annotations

from panicpath.catalog import devices, hyperv, platform
from panicpath.catalog.base import Driver

DRIVERS: dict[str, Driver] = {
    d.name: d for mod in (hyperv, devices, platform) for d in mod.DRIVERS
}

__all__ = ["DRIVERS", "Driver"]
