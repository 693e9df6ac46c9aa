"""Masking secret values in everything swrun prints, logs or exports."""

from __future__ import annotations

import json
import re
import shlex
import urllib.parse
from collections.abc import Iterable
from typing import Any

MASK = "****"
MIN_LEN = 3
"""Shorter values are not masked: masking every `1` or `ok` would hide the output itself."""


def encodings(value: str) -> set[str]:
    """The forms a value takes when swrun or a library quotes it on the way to a line: shell
    quoting (`'it'"'"'s'`, an echoed pm2 command), JSON and Python escapes (`--json`, an
    exception's repr), URL encoding (a URL built from it). Masking only the raw value would
    let `it's` through as `'it'"'"'s'`."""
    forms = {
        shlex.quote(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
        repr(value + "\"'")[1:-4],  # single-quoted with \' whatever the value holds
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote(value),
        urllib.parse.quote_plus(value),
        *bash_forms(value),
    }
    return {f for f in forms if f != value and len(f) >= MIN_LEN}


_BACKSLASHED = frozenset(" \t\n'\"\\|&;()<>!{}*[?]^$`,")
_ANSI_C = {"\a": "\\a", "\b": "\\b", "\x1b": "\\E", "\f": "\\f", "\n": "\\n",
           "\r": "\\r", "\t": "\\t", "\v": "\\v", "\\": "\\\\", "'": "\\'"}


def bash_forms(value: str) -> list[str]:
    """How bash itself quotes a value: `set -x` and `${V@Q}` (`'it'\\''s'`, or `$'a\\tb'`
    with a control character), `printf %q` (`it\\'s\\ a`), `declare -p`/`export -p`
    (`"a \\"b\\" \\$c"`), and each of these as `set -x` quotes it again. Each without its
    outer quotes: a secret is masked wherever bash puts it."""
    forms = [value.replace("'", "'\\''"),
             "".join("\\" + c if c in "\\\"$`" else c for c in value)]
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        forms.append("".join(_ANSI_C.get(c) or (f"\\{ord(c):03o}" if ord(c) < 32 or
                                                 ord(c) == 127 else c) for c in value))
    else:
        out = []
        for i, c in enumerate(value):
            if c in _BACKSLASHED or (c == "~" and (i == 0 or value[i - 1] in "=:")) or (
                    c == "#" and i == 0):
                out.append("\\")
            out.append(c)
        forms.append("".join(out))
    # `set -x` quotes a traced command's words again: `echo "${V@Q}"` shows `'it'\''\'\''…`
    return forms + [f.replace("'", "'\\''") for f in forms if "'" in f]


class Masker:
    """Replaces every occurrence of any known secret value, or of a quoted or encoded form of
    one (see `encodings`), with `****`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if s}
        self._raw = frozenset(found)
        for value in list(found):  # output is masked a line at a time: a key or certificate
            if "\n" in value:      # spread over lines is masked line by line too
                found |= {ln.strip() for ln in value.splitlines() if len(ln.strip()) >= MIN_LEN}
        for value in list(found):
            found |= encodings(value)
        self._secrets = sorted(found, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(s) for s in self._secrets)) if self._secrets else None
        )

    def with_secrets(self, more: Iterable[str]) -> Masker:
        """A masker that also hides `more` (this one's secrets kept)."""
        return Masker([*self._raw, *more])

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def mask_all(self, lines: Iterable[str]) -> list[str]:
        return [self.mask(line) for line in lines]

    def mask_data(self, value: Any) -> Any:
        """`value` with every string in it masked (dict keys too) and None dropped: typed
        results (per-host records, step data) on their way to the log."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, dict):
            return {self.mask(str(k)): self.mask_data(v) for k, v in value.items()
                    if v is not None}
        if isinstance(value, list | tuple):
            return [self.mask_data(v) for v in value if v is not None]
        return value
