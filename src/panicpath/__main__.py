"""`python -m panicpath`."""

from panicpath.cli import main

main()
