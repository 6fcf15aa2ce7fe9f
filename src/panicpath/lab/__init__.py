"""QEMU lab: boot, panic and kdump a real kernel; compare with the model (see docs/lab.md)."""
