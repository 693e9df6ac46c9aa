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
    }
    return {f for f in forms if f != value and len(f) >= MIN_LEN}


class Masker:
    """Replaces every occurrence of any known secret value, or of a quoted or encoded form of
    one (see `encodings`), with `****`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {s for s in secrets if s}
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
        return Masker([*self._secrets, *more])

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
