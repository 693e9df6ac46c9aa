"""What a sh-family step (not bash) changed in its environment, run at its end by the lines
swrun appends: `python -I -S statediff.py SHELL_PID [SECRET_NAME …] >STATE_FILE`.

Standalone (no swrun import: `-I -S` keeps start-up short and ignores PYTHON* variables).
The environment the shell started with is its /proc/PID/environ; the one it has now is this
process's. Only the differences are written (records ending in NUL, the format of
swrun.executors.shellstate): `E` name=value, `T` name=template (a value holding a secret's
value: `${NAME}` where it was, `$$` for a `$`), `U` name (unset). A secret variable's own
value is never written, nor a variable of the same names.
"""

from __future__ import annotations

import os
import sys

MIN_LEN = 3  # swrun.secrets.MIN_LEN


def _environ(pid: str) -> dict[bytes, bytes] | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    out = {}
    for item in raw.split(b"\0"):
        key, eq, value = item.partition(b"=")
        if eq and key:
            out[key] = value
    return out


def diff(before: dict[bytes, bytes], after: dict[bytes, bytes],
         secret_names: list[bytes]) -> bytes:
    secrets = sorted(((n, before[n]) for n in secret_names
                      if n in before and len(before[n]) >= MIN_LEN),
                     key=lambda item: -len(item[1]))  # a secret inside another: the longer
    out = []
    for key, value in after.items():
        if key in secret_names or before.get(key) == value:
            continue
        template = value.replace(b"$", b"$$")
        for name, secret in secrets:
            template = template.replace(secret.replace(b"$", b"$$"), b"${" + name + b"}")
        if template != value.replace(b"$", b"$$"):
            out.append(b"T" + key + b"=" + template)
        else:
            out.append(b"E" + key + b"=" + value)
    out += [b"U" + key for key in before if key not in after]
    return b"".join(item + b"\0" for item in out)


def main(argv: list[str]) -> int:
    before = _environ(argv[1])
    if before is None:  # no /proc: nothing is known to have changed, so nothing is written
        return 0
    names = [os.fsencode(n) for n in argv[2:]]
    sys.stdout.buffer.write(diff(before, dict(os.environb), names))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
