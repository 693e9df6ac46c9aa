"""Environment names a carried shell state never holds: they make a shell, the dynamic
loader or an interpreter run code, or change how a shell runs (docs/runbook-format.md,
"Shared shell state")."""

from __future__ import annotations

UNSAFE = frozenset({
    # the shell: files it sources, commands it runs by itself, how it reads and expands
    "BASH_ENV", "ENV", "ZDOTDIR", "PROMPT_COMMAND", "PS0", "PS1", "PS2", "PS3", "PS4",
    "SHELLOPTS", "BASHOPTS", "POSIXLY_CORRECT", "IFS", "GLOBIGNORE", "EXECIGNORE", "CDPATH",
    "FPATH", "BASH_XTRACEFD", "BASH_COMPAT", "BASH_LOADABLES_PATH", "INPUTRC", "TMOUT",
    "HISTFILE", "HISTCONTROL", "HISTIGNORE",
    # code loaded into every dynamically linked program (glibc's iconv modules too)
    "GCONV_PATH", "LOCPATH", "GLIBC_TUNABLES",
    # interpreters' "run this too" options and start-up files
    "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE", "PERL5OPT", "PERL5DB",
    "RUBYOPT", "NODE_OPTIONS", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS",
})
UNSAFE_PREFIXES = ("LD_", "DYLD_", "BASH_FUNC_")
"""The dynamic loader's whole family (LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, …, and macOS's),
and bash's exported functions."""


def unsafe(name: str) -> bool:
    """A name never carried from one step to the next, nor from a log into a resumed run.
    Search paths (PATH, PYTHONPATH, NODE_PATH, PERL5LIB, RUBYLIB) and HOME are carried: a
    step sets them on purpose (a tool installed into ~/.local/bin), as in a terminal; the
    loader's (LD_LIBRARY_PATH) is not, as it reaches every program, the shell included."""
    return name in UNSAFE or name.startswith(UNSAFE_PREFIXES)
