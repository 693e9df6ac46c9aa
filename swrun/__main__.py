"""`python -m swrun` is the `swrun` command."""

from swrun.cli import main

main()
