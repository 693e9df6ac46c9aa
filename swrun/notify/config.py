"""Where notifications go and which: the front matter's `notify` and `--notify URL`.

```toml
[[notify]]
url = "env:SLACK_WEBHOOK_URL"      # or the URL itself; env: keeps it out of the runbook
format = "slack"                   # slack, mattermost, teams, json (default: from the URL)
events = ["run_finished", "step_failed", "waiting"]   # default: all of EVENTS
waiting_after = "10m"              # `waiting`: an operator wait longer than this
timeout = "5s"                     # each attempt
retries = 3                        # after the first attempt, with backoff doubling
backoff = "1s"
name = "#ops"                      # how the log names it (default: the URL's host)
```

`notify = "https://…"` and a list of URLs or tables work too. Light: no network, no HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

EVENTS = ("run_started", "run_finished", "step_failed", "rollback_started",
          "rollback_finished", "waiting", "approval_needed", "milestone", "watch_failed")
"""What can be notified: `run_started` (also a resume), `run_finished`, `step_failed` (its
last attempt), the rollback's start and end, `waiting` (an operator wait longer than
`waiting_after`), `approval_needed`, `milestone`, `watch_failed` (a `wait` step whose watch
failed)."""
FORMATS = ("slack", "mattermost", "teams", "json")
KEYS = frozenset({"url", "format", "events", "waiting_after", "timeout", "retries", "backoff",
                  "name"})
DEFAULT_WAITING = 600.0
DEFAULT_TIMEOUT = 5.0
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 1.0

CLI_URLS: list[str] = []
"""`--notify URL` of this process (set by the command line, read by the run's hooks)."""


@dataclass(frozen=True)
class Target:
    """One endpoint and what it is sent."""

    url: str
    """As configured: a URL, or `env:NAME` (read when the run starts)."""
    format: str
    events: frozenset[str]
    waiting_after: float = DEFAULT_WAITING
    timeout: float = DEFAULT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    backoff: float = DEFAULT_BACKOFF
    name: str = ""

    def resolved_url(self, environ: Mapping[str, str] | None = None) -> str:
        """The URL itself ("" when `env:NAME` is not set)."""
        if self.url.startswith("env:"):
            return (os.environ if environ is None else environ).get(self.url[4:], "").strip()
        return self.url

    def label(self, environ: Mapping[str, str] | None = None) -> str:
        """How logs and screens name it: never the URL's path or query (webhook URLs are
        credentials): `#ops`, `https://hooks.slack.com/…`, `env:SLACK_URL`."""
        if self.name:
            return self.name
        return masked_url(self.resolved_url(environ)) or self.url


def masked_url(url: str) -> str:
    """`https://hooks.slack.com/services/T0/B0/xyz` → `https://hooks.slack.com/…`."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "…"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if (parts.path.strip("/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def guess_format(url: str) -> str:
    """From the URL: Slack, Teams (Office 365 connectors, Power Automate workflows) and
    Mattermost (`/hooks/<id>`) webhooks; anything else gets the generic JSON."""
    try:
        host = (urlsplit(url).hostname or "").lower()
        path = urlsplit(url).path
    except ValueError:
        return "json"
    if host == "hooks.slack.com":
        return "slack"
    if host.endswith((".webhook.office.com", ".logic.azure.com", "outlook.office.com",
                      ".powerplatform.com")):
        return "teams"
    if path.startswith("/hooks/") and path.count("/") == 2:
        return "mattermost"
    return "json"


def _seconds(value: Any, key: str, problems: list[str], default: float) -> float:
    from swrun.durations import parse_duration

    if value is None:
        return default
    try:
        return parse_duration(str(value))
    except ValueError:
        problems.append(f"notify {key}={value!r}: bad duration (use e.g. 5s, 10m)")
        return default


def _target(raw: Any, where: str, problems: list[str]) -> Target | None:
    if isinstance(raw, str):
        raw = {"url": raw}
    if not isinstance(raw, Mapping):
        problems.append(f"{where}: expected a URL or a table with url = …")
        return None
    for key in raw:
        if key not in KEYS:
            problems.append(f"{where}: unknown key {key!r} (known: {', '.join(sorted(KEYS))})")
    url = raw.get("url")
    if not isinstance(url, str) or not url.strip():
        problems.append(f"{where}: needs url = \"https://…\" or url = \"env:NAME\"")
        return None
    url = url.strip()
    if url.startswith("env:"):
        if not url[4:]:
            problems.append(f"{where}: url = \"env:\" names no environment variable")
            return None
    else:
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            problems.append(f"{where}: url {masked_url(url) or url!r} is not an http(s) URL")
            return None
    fmt = raw.get("format")
    if fmt is None:
        fmt = guess_format(url) if not url.startswith("env:") else "json"
    if fmt not in FORMATS:
        problems.append(f"{where}: format {fmt!r} is not one of {', '.join(FORMATS)}")
        fmt = "json"
    events = raw.get("events", list(EVENTS))
    if isinstance(events, str):
        events = [events]
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        problems.append(f"{where}: events must be a list of names")
        events = list(EVENTS)
    for name in events:
        if name not in EVENTS:
            problems.append(f"{where}: unknown event {name!r} (known: {', '.join(EVENTS)})")
    retries = raw.get("retries", DEFAULT_RETRIES)
    if not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 10:
        problems.append(f"{where}: retries must be a whole number from 0 to 10")
        retries = DEFAULT_RETRIES
    name = raw.get("name", "")
    if not isinstance(name, str):
        problems.append(f"{where}: name must be a string")
        name = ""
    timeout = _seconds(raw.get("timeout"), "timeout", problems, DEFAULT_TIMEOUT)
    if timeout <= 0:
        problems.append(f"{where}: timeout must be more than 0s")
        timeout = DEFAULT_TIMEOUT
    return Target(url=url, format=str(fmt), events=frozenset(e for e in events if e in EVENTS),
                  waiting_after=_seconds(raw.get("waiting_after"), "waiting_after", problems,
                                         DEFAULT_WAITING),
                  timeout=timeout, retries=retries,
                  backoff=_seconds(raw.get("backoff"), "backoff", problems, DEFAULT_BACKOFF),
                  name=name)


def read_targets(raw: Any) -> tuple[list[Target], list[str]]:
    """The front matter's `notify` value as targets, and what is wrong with it."""
    problems: list[str] = []
    if raw is None:
        return [], problems
    items: Sequence[Any] = raw if isinstance(raw, list) else [raw]
    out = []
    for i, item in enumerate(items, 1):
        where = "notify" if len(items) == 1 else f"notify #{i}"
        target = _target(item, where, problems)
        if target is not None:
            out.append(target)
    return out, problems


def cli_target(given: str) -> Target:
    """`--notify URL`, or `--notify FORMAT=URL` (slack=…, mattermost=…, teams=…, json=…):
    every event, the defaults."""
    fmt, sep, rest = given.partition("=")
    if sep and fmt in FORMATS:
        url = rest
    else:
        fmt, url = "", given
    problems: list[str] = []
    target = _target({"url": url, **({"format": fmt} if fmt else {})}, "--notify", problems)
    if target is None or problems:
        from swrun.errors import UsageError

        raise UsageError("; ".join(problems) or f"--notify {masked_url(url)}: not a URL")
    return target


def targets_for(metadata: Mapping[str, Any], cli: Sequence[str] = ()) -> list[Target]:
    """The run's targets: the front matter's (invalid ones left out: `swrun check` says
    why) and the command line's."""
    targets, _ = read_targets(metadata.get("notify"))
    return targets + [cli_target(u) for u in cli]
