"""The command line's commands, one module per group of commands; each module's `COMMANDS`
are added to the `swrun` group in swrun/cli.py, which keeps the group and `main`."""
