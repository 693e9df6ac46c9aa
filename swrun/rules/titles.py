"""Whether a paragraph's lead sentence may title the block under it.

The lead is used when it is a command to the reader (it starts with a verb: "Restart the
pods", "To restart nginx, run:", "Then check…", "You can check…", "On the hub, list…") or
names something the block runs (a word of three letters or more in both: "The nodes are
listed with" over `kubectl get nodes`), and does not say there is nothing to do ("There is
nothing to roll back…", "No need to…"). Otherwise the block's first command is its title."""

from __future__ import annotations

import re

_VERB_TEXT = """
add annotate apply attach back backup build change check clean clear collect configure confirm
connect copy cordon create decrease delete deploy describe detach determine disable download
drain edit enable ensure execute export fail failover fetch find flush force gather generate
get grep identify increase inspect install kill label list load log login look make mark
migrate monitor mount move navigate obtain open patch pause print promote pull push query
reboot reload remove rename renew repeat replace report reset resize restart restore resume retrieve
retry revert rollback roll rotate run save scale see select set show ssh start stop switch
sync tag tail test trigger try uncordon unmount update upgrade upload use validate verify view
wait watch write"""
_VERBS = frozenset(_VERB_TEXT.split())
_LEADING = frozenset({"then", "next", "now", "first", "finally", "also", "afterwards",
                      "please", "to", "optionally", "second", "third", "lastly", "again"})
_NOTHING = re.compile(r"\b(?:nothing|no need|not needed|not necessary|unnecessary|never|"
                      r"do not|don't|does not|doesn't|cannot|can't)\b", re.I)
_STOP = frozenset({"the", "and", "for", "this", "that", "with", "you", "your", "are", "was",
                   "from", "into", "will", "can", "should", "which", "when", "then", "there",
                   "run", "command", "following", "below", "above", "using", "use", "here"})
_WORD = re.compile(r"[a-z0-9]{3,}+")


def _stems(word: str) -> set[str]:
    """`runbooks` → runbook, `writes` → write, `listed` → list: enough to compare."""
    out = {word}
    for end in ("ing", "ed", "es", "s", "d"):
        if len(word) > len(end) + 2 and word.endswith(end):
            out.add(word[: -len(end)])
    return out


def _words(text: str) -> set[str]:
    return {s for w in _WORD.findall(text.lower()) if w not in _STOP for s in _stems(w)}


_SUBJECT = frozenset({"you", "we", "can", "could", "should", "may", "might", "must", "need",
                      "needs", "will", "have"})


def imperative(lead: str) -> bool:
    """Starts with a verb, after "Then", "To", "You can", or a clause ending in a comma ("On
    the hub cluster, run…")."""
    for part in (lead, lead.split(",", 1)[1] if "," in lead else ""):
        words = re.findall(r"[A-Za-z']+", part.lower())[:6]
        while words and (words[0] in _LEADING or words[0] in _SUBJECT):
            words = words[1:]
        if words and _stems(words[0]) & _VERBS:
            return True
    return False


def lead_fits(lead: str, body: str) -> bool:
    """The lead may title the block whose commands are `body`."""
    if _NOTHING.search(lead):
        return False
    return imperative(lead) or bool(_words(lead) & _words(body))


def command_title(body: str) -> str:
    """The block's first command line (comments and blank lines skipped), or ""."""
    for raw in body.split("\n"):
        line = raw.strip()
        if line and not line.startswith("#"):
            line = line.rstrip("\\").strip()
            return line if re.search(r"[A-Za-z]", line) else ""
    return ""
