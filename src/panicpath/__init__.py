"""panicpath: the Linux kernel's panic path, executable."""

__version__ = "0.1.0"
