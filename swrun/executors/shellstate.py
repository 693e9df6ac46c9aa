"""The state a local sh-family step leaves for the next ones: the lines appended to its body
that write what it changed, and reading that back.

Only what the step changed leaves the shell: its exported variables are compared, inside
the shell as it ends, with the environment it started with (`/proc/$$/environ`), so an
unchanged variable — the operator's environment, a cloud key — never reaches the file. A
secret variable's value is never written either: a value holding one is written as a
template (`${API_TOKEN}` where the secret was, `$$` for a `$`), which the engine fills in
again from the secret itself. The file is created 0600 by swrun in the run's 0700 `state/`
folder and removed as soon as it is read (a resume removes one a dead swrun left).

Records end in NUL: `E` name=value, `T` name=template, `U` name (unset), `C` directory;
from bash also every alias it has at the end, `A` name=value or `B` name=template (aliases
come only from the runbook's steps: bash reads no start-up file for `-c`), after an `L`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from swrun.envnames import unsafe

NOT_CARRIED = frozenset({"_", "SHLVL", "PWD", "OLDPWD", "SWRUN_CWD", "PS1", "PS2", "PS4"})
_SKIP_PREFIXES = ("SWRUN_", "BASH_FUNC_")

_BASH = """
{{ __swrun_rc=$?; set +x; shopt -u expand_aliases; }} 2>/dev/null
__swrun_put() {{
__swrun_t=${{__swrun_v//\\$/\\$\\$}}
__swrun_e=$__swrun_t
for __swrun_x in "${{__swrun_s[@]}}"; do
__swrun_y=${{__swrun_0[$__swrun_x]}}
[ "${{#__swrun_y}}" -ge 3 ] || continue
__swrun_y=${{__swrun_y//\\$/\\$\\$}}
__swrun_t=${{__swrun_t//"$__swrun_y"/\\$\\{{$__swrun_x\\}}}}
done
if [ "$__swrun_t" = "$__swrun_e" ]
then builtin printf '%s%s=%s\\0' "$1" "$__swrun_n" "$__swrun_v"
else builtin printf '%s%s=%s\\0' "$2" "$__swrun_n" "$__swrun_t"; fi
}}
__swrun_state() {{
local IFS=$'\\n' __swrun_n __swrun_v __swrun_t __swrun_e __swrun_x __swrun_y __swrun_kv
local -; set +u -f
local -a __swrun_s=({secrets}) __swrun_e0=()
local -A __swrun_0=() __swrun_1=()
if [ -r /proc/$$/environ ]; then
builtin mapfile -d '' -t __swrun_e0 </proc/$$/environ
for __swrun_kv in "${{__swrun_e0[@]}}"; do
__swrun_0[${{__swrun_kv%%=*}}]=${{__swrun_kv#*=}}
done
for __swrun_n in $(builtin compgen -e); do
__swrun_1[$__swrun_n]=1
case $__swrun_n in {skip}) continue;; esac
__swrun_v=${{!__swrun_n}}
if [ -n "${{__swrun_0[$__swrun_n]+x}}" ] && [ "${{__swrun_0[$__swrun_n]}}" = "$__swrun_v" ]
then continue; fi
__swrun_put E T
done
for __swrun_n in "${{!__swrun_0[@]}}"; do
[ -n "${{__swrun_1[$__swrun_n]+x}}" ] || builtin printf 'U%s\\0' "$__swrun_n"
done
builtin printf 'L\\0'
for __swrun_n in "${{!BASH_ALIASES[@]}}"; do
__swrun_v=${{BASH_ALIASES[$__swrun_n]}}
__swrun_put A B
done
fi
builtin printf 'C%s\\0' "$PWD"
}}
__swrun_state >|{file} 2>/dev/null || :
exit "$__swrun_rc"
"""
"""For bash: the comparison in the shell itself, in a function (its IFS and options local;
one subshell lists the exported names, no program is started), read with alias expansion
off (an alias the block defined cannot change it). A body that calls `exit`
carries nothing."""

_OTHER = """
{{ __swrun_rc=$?; set +x; }} 2>/dev/null
{{ {python} -I -S {helper} "$$" {secrets}; printf 'C%s\\0' "$PWD"; }} >|{file} 2>/dev/null || :
exit "$__swrun_rc"
"""
"""For sh, dash, zsh, ksh: the comparison in statediff.py."""


def trailer(shell: str, state_file: Path, secret_names: Iterable[str]) -> str:
    """The lines appended to a step's body (its line numbers unchanged) that write what it
    changed to `state_file` and exit with the body's status. `secret_names`: variables whose
    values must not be written (runbook secrets, secret-looking environment variables)."""
    names = sorted(set(secret_names))
    quoted = " ".join(shlex.quote(n) for n in names)
    if os.path.basename(shell) == "bash":
        skip = "|".join([*(shlex.quote(n) for n in sorted(NOT_CARRIED) + names),
                         *(f"{p}*" for p in _SKIP_PREFIXES)])
        return _BASH.format(secrets=quoted, skip=skip, file=shlex.quote(str(state_file)))
    helper = Path(__file__).with_name("statediff.py")
    return _OTHER.format(python=shlex.quote(sys.executable), helper=shlex.quote(str(helper)),
                         secrets=quoted, file=shlex.quote(str(state_file)))


def new_state_file(folder: Path, name: str) -> Path:
    """An empty file, 0600, for a step's trailer to write into (`>|` keeps its mode)."""
    path = folder / name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    os.close(fd)
    return path


def carried(name: str) -> bool:
    """A name that may pass from one step to the next (swrun.envnames for the unsafe ones)."""
    return bool(name) and name not in NOT_CARRIED and not name.startswith(_SKIP_PREFIXES) \
        and not unsafe(name)


def read_state(path: Path) -> dict[str, Any] | None:
    """What the trailer wrote (the file is removed): {"env", "templates", "unset", "cwd"};
    None when it wrote nothing (the body called `exit`, or the step never got there)."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    env: dict[str, str] = {}
    templates: dict[str, str] = {}
    aliases: dict[str, str] = {}
    alias_templates: dict[str, str] = {}
    unset: list[str] = []
    cwd: str | None = None
    listed = False
    for item in raw.decode("utf-8", "replace").split("\0"):
        kind, rest = item[:1], item[1:]
        if kind == "C":
            cwd = rest
            continue
        if kind == "L":
            listed = True
            continue
        name, _, value = rest.partition("=")
        if kind in ("A", "B"):
            if name:
                (aliases if kind == "A" else alias_templates)[name] = value
            continue
        if not carried(name):
            continue
        if kind == "E":
            env[name] = value
        elif kind == "T":
            templates[name] = value
        elif kind == "U":
            unset.append(name)
    if cwd is None:
        return None
    out: dict[str, Any] = {"env": env, "templates": templates, "unset": sorted(unset),
                           "cwd": cwd}
    if listed:
        out["aliases"] = aliases
    if alias_templates:
        out["alias_templates"] = alias_templates
    return out
