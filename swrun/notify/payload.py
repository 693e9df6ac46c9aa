"""What is posted: one message per notified event, in each target's documented JSON.

- Slack incoming webhooks: `text` (the fallback and notification line) and `blocks`
  (a `section` with mrkdwn text and a `context` line) — api.slack.com/messaging/webhooks.
- Mattermost incoming webhooks: `text` (Markdown), `username`, and a Slack-style attachment
  with a colour and fields — developers.mattermost.com/integrate/webhooks/incoming.
- Microsoft Teams (Workflows / incoming webhook): a `message` with one Adaptive Card 1.4
  attachment (a title TextBlock, the text and a FactSet).
- json: a flat object for anything else (`source`, `event`, `title`, `text`, `severity`,
  the run's ids, and the event's record as logged).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_COLOURS = {"good": "#2eb67d", "warning": "#ecb22e", "danger": "#e01e5a", "info": "#1d9bd1"}
_TEAMS_COLOURS = {"good": "Good", "warning": "Warning", "danger": "Attention", "info": "Accent"}


@dataclass(frozen=True)
class Message:
    """One notification, before it is shaped for a target (secrets already masked)."""

    event: str
    """Which of swrun.notify.config.EVENTS."""
    title: str
    text: str
    severity: str = "info"
    """good, warning, danger or info."""
    facts: dict[str, str] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)
    """The event's record as logged (for the json format)."""
    for_seq: int | None = None


def slack(msg: Message) -> dict[str, Any]:
    context = " · ".join(f"{k}: {v}" for k, v in msg.facts.items())
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{msg.title}*"
                                     + (f"\n{msg.text}" if msg.text else "")}}]
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": msg.title, "blocks": blocks}


def mattermost(msg: Message) -> dict[str, Any]:
    return {
        "username": "swrun",
        "text": f"**{msg.title}**" + (f"\n{msg.text}" if msg.text else ""),
        "attachments": [{
            "fallback": msg.title,
            "color": _COLOURS.get(msg.severity, _COLOURS["info"]),
            "fields": [{"short": True, "title": k, "value": v} for k, v in msg.facts.items()],
        }] if msg.facts else [],
    }


def teams(msg: Message) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": msg.title, "weight": "Bolder", "size": "Medium",
         "wrap": True, "color": _TEAMS_COLOURS.get(msg.severity, "Default")}]
    if msg.text:
        body.append({"type": "TextBlock", "text": msg.text, "wrap": True})
    if msg.facts:
        body.append({"type": "FactSet",
                     "facts": [{"title": k, "value": v} for k, v in msg.facts.items()]})
    return {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": body,
            },
        }],
    }


def generic(msg: Message) -> dict[str, Any]:
    return {"source": "swrun", "event": msg.event, "title": msg.title, "text": msg.text,
            "severity": msg.severity, "facts": msg.facts, "record": msg.record}


SHAPES = {"slack": slack, "mattermost": mattermost, "teams": teams, "json": generic}


def payload(fmt: str, msg: Message) -> dict[str, Any]:
    return SHAPES.get(fmt, generic)(msg)
