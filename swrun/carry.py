"""Shared shell state: what local shell steps export, where they `cd` and the aliases bash
steps define, carried to the
later local shell steps of the run and, from the log, into a resumed run.

A step's state (swrun.executors.shellstate) holds only what it changed. A value built around
a secret arrives as a template (`https://u:${DB_PASSWORD}@h`, `$$` for a `$`) and is filled
in again from the secret's own value, in this run and in a resumed one: the log holds the
template, never the secret, and a masked `****` is never fed to a step. Names that make a
shell or the loader run code (swrun.envnames) are never carried, whatever the log says.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Mapping
from typing import Any

from swrun.envnames import unsafe
from swrun.secrets import MASK, MIN_LEN, Masker


def fill(template: str, values: Mapping[str, str]) -> str | None:
    """A template's value from `values`; None when a name in it has none."""
    try:
        return string.Template(template).substitute(values)
    except (KeyError, ValueError):
        return None


class ShellState:
    """The exports and working directory carried to the next local shell step."""

    def __init__(self, base_dir: str, declared: Iterable[str], looks_secret: Any) -> None:
        self.env: dict[str, str] = {}
        self.cwd: str | None = None
        self.aliases: dict[str, str] = {}
        """Aliases bash steps defined (a bash step starts with them defined)."""
        self._base = base_dir
        self._declared = frozenset(declared)
        """Runbook variables keep their values: a step's `export RELEASE=…` is not carried."""
        self._looks_secret = looks_secret

    def _cd(self, cwd: Any) -> bool:
        """Take a logged or reported directory; True when it changed where steps start."""
        if not isinstance(cwd, str) or not cwd:
            return False
        before = self.cwd
        self.cwd = None if cwd == self._base else cwd
        return self.cwd != before

    def take(self, state: Mapping[str, Any], values: Mapping[str, str], masker: Masker
             ) -> tuple[dict[str, Any] | None, list[str]]:
        """Apply what a step reported (`values`: the environment it started with, to fill
        its templates in). Returns what the log keeps (None: nothing changed) and the values
        of secret-looking names it exported, for the masker."""
        env = {k: str(v) for k, v in dict(state.get("env") or {}).items()
               if k not in self._declared and not unsafe(k)}
        templates = {k: str(t) for k, t in dict(state.get("templates") or {}).items()
                     if k not in self._declared and not unsafe(k)}
        filled = {k: v for k, t in templates.items() if (v := fill(t, values)) is not None}
        gone = [k for k in state.get("unset") or () if k in self.env]
        self.env.update(env)
        self.env.update(filled)
        for name in gone:
            self.env.pop(name, None)
        moved = self._cd(state.get("cwd"))
        fresh = [v for k, v in env.items() if self._looks_secret(k) and len(v) >= MIN_LEN]
        logged_env = {k: (MASK if self._looks_secret(k) else masker.mask(v))
                      for k, v in env.items()}
        aliases = self._take_aliases(state, values, masker)
        if not (logged_env or templates or gone or moved or aliases):
            return None, fresh
        out: dict[str, Any] = {"env": logged_env, "unset": gone,
                               "cwd": self.cwd or self._base if moved else None}
        if templates:
            out["templates"] = templates
        out.update(aliases)
        return out, fresh

    def _take_aliases(self, state: Mapping[str, Any], values: Mapping[str, str],
                      masker: Masker) -> dict[str, Any]:
        """The aliases a bash step has at its end (all of them: `aliases` and, built from a
        secret, `alias_templates`) against those it started with: what the log keeps."""
        if not isinstance(state.get("aliases"), dict):
            return {}
        plain = {str(k): str(v) for k, v in state["aliases"].items()}
        templates = {str(k): str(t) for k, t in dict(state.get("alias_templates") or {}).items()}
        now = {**plain, **{k: v for k, t in templates.items()
                           if (v := fill(t, values)) is not None}}
        changed = {k: v for k, v in now.items() if self.aliases.get(k) != v}
        gone = sorted(k for k in self.aliases if k not in now)
        self.aliases = now
        out: dict[str, Any] = {}
        if any(k in plain for k in changed):
            out["aliases"] = {k: masker.mask(v) for k, v in changed.items() if k in plain}
        if any(k in templates for k in changed):
            out["alias_templates"] = {k: templates[k] for k in changed if k in templates}
        if gone:
            out["unalias"] = gone
        return out

    def load(self, states: Iterable[Mapping[str, Any]], environ: Mapping[str, str],
             variables: Mapping[str, str]) -> list[str]:
        """Start from the states the earlier parts of the run logged, in order. A masked
        value is taken from `environ` when it has that name, else left out; a template is
        filled in from the run's values. Returns one line per name left out, and why."""
        left_out: dict[str, str] = {}
        for state in states:
            for name, value in dict(state.get("env") or {}).items():
                value = str(value)
                why = self._refused(name)
                if why is None and value == MASK:
                    if name in environ:
                        value = environ[name]
                    else:
                        why = "its value is a secret the log masks and the environment " \
                              "does not have"
                elif why is None and MASK in value:
                    why = "its logged value has a masked secret in it"
                if why is not None:
                    left_out[name] = why
                    self.env.pop(name, None)
                    continue
                left_out.pop(name, None)
                self.env[name] = value
            for name, template in dict(state.get("templates") or {}).items():
                why = self._refused(name)
                value = fill(str(template), {**environ, **self.env, **variables}) \
                    if why is None else None
                if value is None:
                    left_out[name] = why or "it is built from a secret this run has no " \
                                            "value for"
                    self.env.pop(name, None)
                    continue
                left_out.pop(name, None)
                self.env[name] = value
            for name in state.get("unset") or ():
                self.env.pop(name, None)
                left_out.pop(name, None)
            self._load_aliases(state, {**environ, **self.env, **variables}, left_out)
            self._cd(state.get("cwd"))
        return [f"{name} is not carried: {why}" for name, why in left_out.items()]

    def _load_aliases(self, state: Mapping[str, Any], values: Mapping[str, str],
                      left_out: dict[str, str]) -> None:
        for name, value in dict(state.get("aliases") or {}).items():
            key = f"alias {name}"
            if MASK in str(value):
                left_out[key] = "its logged value has a masked secret in it"
                self.aliases.pop(name, None)
                continue
            left_out.pop(key, None)
            self.aliases[name] = str(value)
        for name, template in dict(state.get("alias_templates") or {}).items():
            key = f"alias {name}"
            filled = fill(str(template), values)
            if filled is None:
                left_out[key] = "it is built from a secret this run has no value for"
                self.aliases.pop(name, None)
                continue
            left_out.pop(key, None)
            self.aliases[name] = filled
        for name in state.get("unalias") or ():
            self.aliases.pop(name, None)
            left_out.pop(f"alias {name}", None)

    def _refused(self, name: str) -> str | None:
        if unsafe(name):
            return "a name that makes a shell or the loader run code is never carried"
        if name in self._declared:
            return "a runbook variable keeps its value"
        return None


def untrusted(raw: bytes) -> str | None:
    """Why a log's carried shell state cannot be trusted, or None: a resume feeds it to the
    later steps, so it must come from a log whose hash chain verifies (an edited event, or
    a log without a chain, could carry anything)."""
    from swrun.evidence.chain import check, normalize

    result = check(normalize(raw))
    if result.problem:
        return f"its hash chain does not verify ({result.problem})"
    if not result.chained or result.unchained_events:
        return "it has no hash chain to verify"
    return None
