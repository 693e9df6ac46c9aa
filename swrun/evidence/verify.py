"""`swrun verify`: does a run log hold up as evidence?

Checked, in order: the hash chain (the first break named by seq and line), every signature
block of `<log>.sig` (that it verifies, who signed it, that it covers the log as it is: no
signed event changed or removed, nothing after the last signature), the sidecar output files
against the SHA-256 their `step_finished` events record, and the runbook file (when given)
against the SHA-256 the run recorded.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from swrun.errors import EvidenceError, RunLogError
from swrun.evidence import LOG_NAMESPACE
from swrun.evidence.chain import CHAIN, Table, normalize, tables
from swrun.evidence.chain import check as check_chain
from swrun.evidence.keys import BadSignature, check
from swrun.evidence.sign import read_blocks, sig_path
from swrun.files import (
    MAX_LOG_BYTES,
    MAX_RUNBOOK_BYTES,
    MAX_SIG_BYTES,
    NotRegular,
    open_regular,
    read_regular,
)
from swrun.runlog import parse_at

VERIFIED = "verified"
TAMPERED = "tampered"
MISMATCH = "mismatch"
UNTRUSTED = "untrusted"
UNSIGNED = "unsigned"
UNCHAINED = "unchained"
UNREADABLE = "unreadable"
_RANK = [TAMPERED, UNREADABLE, MISMATCH, UNTRUSTED, UNSIGNED, UNCHAINED]
"""The worst problem names the log's status."""


@dataclass
class Verdict:
    log: str
    problems: list[tuple[str, str]] = field(default_factory=list)
    """(status, one line) for each thing that does not hold."""
    notes: list[str] = field(default_factory=list)
    events: int = 0
    signers: list[dict[str, Any]] = field(default_factory=list)
    sidecars: list[str] = field(default_factory=list)
    """Sidecar files whose hashes were checked (relative to the log's folder)."""
    approvals: int = 0
    runbook: str | None = None
    run_id: str = ""
    trust: str | None = None
    """The allowed_signers file that said whose keys count, and its SHA-256 (a file beside a
    copied runbook could list anyone as alice: the verdict names the one it trusted)."""
    trust_sha256: str | None = None
    witnessed: int | None = None
    """The highest seq a witness saw signed (the log reaches it), if any witness was found."""

    def fail(self, status: str, text: str) -> None:
        self.problems.append((status, text))

    @property
    def status(self) -> str:
        for status in _RANK:
            if any(s == status for s, _ in self.problems):
                return status
        return VERIFIED

    @property
    def ok(self) -> bool:
        return not self.problems

    def _trusted(self) -> str:
        if self.trust is None:
            return ""
        return f" [keys from {self.trust}, SHA-256 {(self.trust_sha256 or '?')[:16]}…]"

    def line(self) -> str:
        if self.problems:
            status = self.status
            first = next(text for s, text in self.problems if s == status)
            more = len(self.problems) - 1
            return f"{self.log}: {status}: {first}" + (
                f" (and {more} more problem{'s' if more > 1 else ''}; --json lists them)"
                if more else "") + self._trusted()
        who = ", ".join(dict.fromkeys(s["principal"] or s["key"] for s in self.signers))
        parts = [f"{self.events} events chained", f"signed by {who}"]
        if self.sidecars:
            parts.append(f"{len(self.sidecars)} output file(s) match")
        if self.approvals:
            parts.append(f"{self.approvals} approval(s) logged")
        if self.witnessed is not None:
            parts.append(f"witnessed up to seq {self.witnessed}")
        if self.runbook:
            parts.append(f"runbook {self.runbook} is the one that ran")
        return f"{self.log}: {VERIFIED}: " + ", ".join(parts) + self._trusted()

    def to_json(self) -> dict[str, Any]:
        return {"log": self.log, "status": self.status, "ok": self.ok, "run_id": self.run_id,
                "events": self.events, "signers": self.signers, "sidecars": self.sidecars,
                "approvals": self.approvals, "runbook": self.runbook,
                "allowed_signers": self.trust, "allowed_signers_sha256": self.trust_sha256,
                "witnessed_seq": self.witnessed,
                "problems": [{"status": s, "message": t} for s, t in self.problems],
                "notes": self.notes}


def verify_log(path: str | Path, *, allowed_signers: Path | None = None,
               runbook: str | Path | None = None, shown: str | None = None,
               witnesses: list[Path] | None = None, registry: bool = True) -> Verdict:
    """Everything `swrun verify` checks about one log; never raises for what a log holds."""
    from swrun.runlog import parse_bytes

    path = Path(path)
    v = Verdict(shown or str(path))
    if allowed_signers is not None:
        v.trust = str(allowed_signers)
        try:
            v.trust_sha256 = hashlib.sha256(allowed_signers.read_bytes()).hexdigest()
        except OSError as exc:
            v.fail(UNREADABLE, f"cannot read {allowed_signers}: {exc.strerror}")
            return v
    try:
        raw = read_regular(path, MAX_LOG_BYTES)
    except NotRegular as exc:
        v.fail(UNREADABLE, f"cannot read it: {exc.why}")
        return v
    except OSError as exc:
        v.fail(UNREADABLE, f"cannot read it: {exc.strerror}")
        return v
    norm = normalize(raw)
    found, end = tables(norm)
    if end < len(norm):
        v.notes.append(f"a torn last event ({len(norm) - end} bytes) was left out")
    v.events = max(0, len(found) - 1)
    result = check_chain(norm[:end])
    if result.problem:  # the bytes tell first: a change may also have broken the TOML
        v.fail(TAMPERED, result.problem)
    try:
        data = parse_bytes(path, raw)[0]  # the bytes already read, not the file a second time
    except RunLogError as exc:
        if not result.problem:
            v.fail(UNREADABLE, str(exc).removeprefix(f"{path}: "))
        return v
    v.run_id = str(data.run.get("id", ""))
    v.approvals = sum(1 for e in data.events if e.get("type") == "approval")
    if not result.problem and not result.chained:
        v.fail(UNCHAINED, "unchained (written before swrun kept a hash chain in its logs): "
                          f"its {v.events} events cannot be checked")
    parts = _parts(data.run, data.events)
    _signatures(v, path, found, end, v.run_id, allowed_signers, chained=result.chained,
                total=len(norm), parts=parts)
    if v.approvals:
        v.approvals = _approvals(v, path, data.events, allowed_signers, parts)
    _witnessed(v, found, witnesses or [], registry)
    _sidecars(v, path, data.events)
    if runbook is not None:
        _runbook(v, Path(runbook), data.run, data.events)
    return v


def trust_check(allowed: Path | None) -> Any:
    """For timeline and history: what `swrun verify` (with `allowed`) finds wrong with a log,
    as one line per log (empty when it verifies). Unsigned, unchained, re-signed and cut-back
    logs are not verified, so they are marked too."""
    def problems(data: Any) -> list[str]:
        v = verify_log(data.path, allowed_signers=allowed)
        if v.ok:
            return []
        status = v.status
        text = next(t for s, t in v.problems if s == status)
        return [text if text.startswith(status) else f"{status}: {text}"]
    return problems


UNTRUSTED_MARK = "cannot be trusted"
"""In a timeline or history warning about a log whose chain or output files do not hold."""


def local_problems(path: Path, events: list[dict[str, Any]]) -> list[str]:
    """What the log's own bytes and output files say is wrong (hash chain, sidecar hashes):
    the checks `timeline` and `history` make on every log they read, without ssh-keygen. An
    unchained (older) or unsigned log is not a problem here; `swrun verify` says so."""
    try:
        raw = read_regular(path, MAX_LOG_BYTES)
    except OSError:
        return []
    norm = normalize(raw)
    _, end = tables(norm)
    v = Verdict(str(path))
    result = check_chain(norm[:end])
    if result.problem:
        v.fail(TAMPERED, result.problem)
    _sidecars(v, path, events)
    return [text for status, text in v.problems if status == TAMPERED]


@dataclass(frozen=True)
class _Part:
    start: int
    """seq of its run_started / run_resumed."""
    end: int
    """seq of its last event."""
    key: str | None
    """The fingerprint the log says signs it (`operator_key`)."""
    who: str
    finished: bool
    """It ended with run_finished (and so was signed, if it had a key), not in a crash."""


def _parts(run: dict[str, Any], events: list[dict[str, Any]]) -> list[_Part]:
    """The parts of the run (its start and each resume), with the key each is signed with."""
    out: list[_Part] = []
    for e in events:
        seq = int(e.get("seq") or 0)
        kind = e.get("type")
        if kind in ("run_started", "run_resumed"):
            key = run.get("operator_key") if kind == "run_started" else e.get("operator_key")
            out.append(_Part(seq, seq, key if isinstance(key, str) else None,
                             str((run if kind == "run_started" else e).get("operator", "")),
                             False))
        elif out:
            last = out[-1]
            out[-1] = _Part(last.start, seq, last.key, last.who,
                            last.finished or kind == "run_finished")
    return out


def _signatures(v: Verdict, path: Path, found: list[Table], end: int, run_id: str,
                allowed: Path | None, *, chained: bool, total: int | None = None,
                parts: list[_Part] | None = None) -> None:
    sig = sig_path(path)
    try:
        text = read_regular(sig, MAX_SIG_BYTES).decode("utf-8", "replace")
    except FileNotFoundError:
        if chained:
            v.fail(UNSIGNED, f"unsigned (no {sig.name} beside it)")
        return
    except OSError as exc:
        v.fail(UNREADABLE, f"cannot read {sig.name}: {exc.strerror}")
        return
    blocks = read_blocks(text)
    if not blocks:
        v.fail(TAMPERED, f"{sig.name} holds no signature block")
        return
    ends = {t.end: t for t in found}
    by_part: dict[int, list[str]] = {}
    for n, block in enumerate(blocks, 1):
        where = f"signature {n} ({sig.name} line {block.line})"
        signed_at = parse_at(block.claims.get("signed_at"))
        if signed_at is not None and signed_at > datetime.now(UTC) + timedelta(minutes=5):
            v.fail(TAMPERED, f"{where} says it was made at {block.claims.get('signed_at')}, "
                             "in the future")
            signed_at = None
        try:  # the key must have been valid when it signed (valid-before may have passed)
            got = check(block.message, block.signature, LOG_NAMESPACE, allowed, at=signed_at)
        except BadSignature as exc:
            if exc.untrusted:
                v.fail(UNTRUSTED, f"{where} is {exc.reason}")
                v.signers.append({"principal": "", "key": exc.fingerprint or "",
                                  "seq": block.number("seq")})
                seq = block.number("seq")
                for part in parts or ():  # a key not listed is untrusted, not missing
                    if seq is not None and part.start <= seq <= part.end and exc.fingerprint:
                        by_part.setdefault(part.start, []).append(exc.fingerprint)
            else:
                v.fail(TAMPERED, f"{where}: {exc.reason}")
            continue
        except EvidenceError as exc:
            v.fail(UNREADABLE, str(exc))
            return
        v.signers.append({"principal": got.principal, "key": got.fingerprint,
                          "key_type": got.key_type, "seq": block.number("seq"),
                          "operator": block.claims.get("operator", ""),
                          "signed_at": block.claims.get("signed_at", "")})
        size, seq, head = block.number("bytes"), block.number("seq"), block.claims.get("head")
        part = next((p for p in parts or () if seq is not None and p.start <= seq <= p.end),
                    None)
        if part is not None and part.key and part.key != got.fingerprint:
            v.fail(TAMPERED, f"{where} is by {got.principal or 'key'} {got.fingerprint}, but "
                             f"the part of the run it ends (from seq {part.start}, run by "
                             f"{part.who}) is signed with {part.key}: re-signed by someone "
                             "else")
        if part is not None:
            by_part.setdefault(part.start, []).append(got.fingerprint)
        if block.claims.get("run") != run_id:
            v.fail(TAMPERED, f"{where} is of run {block.claims.get('run')}, not of this log's "
                             f"run {run_id}")
        elif size is None or head is None:
            v.fail(TAMPERED, f"{where} does not say what it covers")
        elif size > end:
            last = found[-1] if found else None
            if last is not None and seq is not None and last.seq == seq:
                v.fail(TAMPERED, f"{last.name()}, the last event {where} covers, was changed "
                                 f"since it was signed (it is {size - end} bytes shorter)")
            elif last is not None and last.seq is not None and seq is not None and \
                    last.seq > seq:
                v.fail(TAMPERED, f"the events {where} covers (up to seq {seq}, {size} bytes) "
                                 f"were changed: the log now has {end} bytes up to seq "
                                 f"{last.seq}")
            else:
                v.fail(TAMPERED, f"signed events were removed from the end: {where} covers "
                                 f"{size} bytes up to event seq {seq}, the log has {end} "
                                 f"up to {last.name() if last else 'nothing'}")
        elif size not in ends:
            v.fail(TAMPERED, f"{where} covers the log up to byte {size}, where no event ends "
                             "now: events before it were changed, added or removed")
        elif ends[size].hash != head:
            v.fail(TAMPERED, f"{ends[size].name()}, the last event {where} covers, was "
                             "changed since it was signed")
    if allowed is None and v.signers and all(s.get("principal") == "" for s in v.signers):
        keys = ", ".join(dict.fromkeys(s["key"] for s in v.signers))
        v.fail(UNTRUSTED, f"the signature holds, but no allowed_signers file says whose key "
                          f"{keys} is (--allowed-signers FILE)")
    for part in parts or ():  # a part that ended normally was signed by its own key
        if part.finished and part.key and part.key not in by_part.get(part.start, ()):
            v.fail(TAMPERED, f"the part of the run from seq {part.start} to {part.end} (run by "
                             f"{part.who}) carries no signature by its key {part.key}: its "
                             "signature was removed or replaced")
    last = blocks[-1].number("bytes")
    if total is not None and last == end and total > end:
        v.fail(TAMPERED, f"{total - end} bytes follow the last signed event with no blank "
                         "line to end them: swrun reads them as a torn tail, but another TOML "
                         "reader (tomllib) may read them as an event nobody signed")
    if last is not None and last < end and last in ends:
        after = [t for t in found if t.start >= last]
        if after:
            seqs = [t.seq for t in after if t.seq is not None]
            span = f"seq {seqs[0]}" + (f"–{seqs[-1]}" if len(seqs) > 1 else "") if seqs else \
                "tables"
            v.fail(TAMPERED, f"events {span} (line {after[0].line} on) come after the last "
                             "signature: appended later, or written by a part of the run "
                             "that ended without signing")


def _witnessed(v: Verdict, found: list[Table], given: list[Path], registry: bool) -> None:
    """The log reaches every chain head a witness saw (evidence/witness.py): the registry's
    for this run, and `--witness` files."""
    from swrun.evidence import witness

    heads = witness.registry_heads(v.run_id) if registry and v.run_id else []
    for path in given:
        try:
            heads += witness.read(path)
        except Exception as exc:  # NotRegular, OSError: one line
            v.fail(UNREADABLE, f"cannot read the witness {path}: {exc}")
    mine = witness.mine(heads, v.run_id, found[0].hash if found else "")
    if not mine:
        if given:
            v.fail(MISMATCH, f"the witness file(s) {', '.join(map(str, given))} say nothing "
                             f"of run {v.run_id}")
        return
    for problem in witness.check(mine, v.run_id, {t.end: t for t in found}):
        v.fail(TAMPERED, problem)
    v.witnessed = max(h.seq for h in mine)


def _approvals(v: Verdict, path: Path, events: list[dict[str, Any]], allowed: Path | None,
               parts: list[_Part]) -> int:
    """Each logged approval checked again from its signed file (evidence/approved.py)."""
    from swrun.evidence.approved import check_approvals

    def part_of(seq: int) -> _Part | None:
        return next((p for p in parts if p.start <= seq <= p.end), None)

    def keys(seq: int) -> list[str]:
        part = part_of(seq)
        if part is None:
            return []
        out = [part.key] if part.key else []
        # whoever signed the block that ends this part signed what the approval let run
        out += [s["key"] for s in v.signers if isinstance(s.get("seq"), int)
                and part.start <= s["seq"] <= part.end and s.get("key")]
        return out

    def operator(seq: int) -> str:
        part = part_of(seq)
        return part.who if part else ""

    return check_approvals(v.fail, path, v.run_id, events, allowed, keys, operator)


def _inside(folder: Path, rel: str) -> Path | None:
    """`rel` under the log's folder; None for a path that leaves it."""
    if os.path.isabs(rel) or ".." in Path(rel).parts:
        return None
    return folder / rel


def _sidecars(v: Verdict, path: Path, events: list[dict[str, Any]]) -> None:
    recorded: dict[str, list[tuple[int, str, int]]] = {}
    for event in events:
        if event.get("type") != "step_finished":
            continue
        places = [event] + [h for h in (event.get("hosts") or {}).values()
                            if isinstance(h, dict)] if isinstance(event.get("hosts"), dict) \
            else [event]
        for place in places:
            rel, digest, size = (place.get("output_file"), place.get("output_sha256"),
                                 place.get("output_bytes"))
            if isinstance(rel, str) and isinstance(digest, str) and isinstance(size, int):
                recorded.setdefault(rel, []).append((int(event.get("seq") or 0), digest, size))
    for rel, records in recorded.items():
        file = _inside(path.parent, rel)
        if file is None:
            v.fail(TAMPERED, f"output file {rel} is outside the log's folder")
            continue
        try:
            length, digests = _prefix_digests(file, {size for _, _, size in records})
        except FileNotFoundError:
            v.fail(TAMPERED, f"output file {rel} (event seq {records[-1][0]}) is missing")
            continue
        except OSError as exc:
            v.fail(UNREADABLE, f"cannot read output file {rel}: {exc.strerror}")
            continue
        for seq, digest, size in records:
            if digests.get(size) != digest:
                v.fail(TAMPERED, f"output file {rel} differs from what event seq {seq} "
                                 "recorded (SHA-256)")
                break
        else:
            extra = length - max(size for _, _, size in records)
            if extra > 0:
                v.fail(TAMPERED, f"output file {rel} has {extra} bytes after what its last "
                                 f"event (seq {records[-1][0]}) recorded")
            else:
                v.sidecars.append(rel)


def _prefix_digests(file: Path, sizes: set[int]) -> tuple[int, dict[int, str]]:
    """The file's length and the SHA-256 of its first `size` bytes for each size it has,
    read once in blocks (an output file may be far larger than memory)."""
    h = hashlib.sha256()
    done = 0
    out: dict[int, str] = {}
    marks = sorted(sizes)
    with open_regular(file) as fh:
        if 0 in sizes:
            out[0] = h.hexdigest()
        while True:
            nxt = next((m for m in marks if m > done), None)
            block = fh.read(min(1 << 20, nxt - done) if nxt is not None else 1 << 20)
            if not block:
                return done, out
            h.update(block)
            done += len(block)
            if done in sizes:
                out[done] = h.hexdigest()


def _runbook(v: Verdict, runbook: Path, run: dict[str, Any],
             events: list[dict[str, Any]]) -> None:
    try:
        digest = hashlib.sha256(read_regular(runbook, MAX_RUNBOOK_BYTES)).hexdigest()
    except OSError as exc:
        v.fail(UNREADABLE, f"cannot read the runbook {runbook}: {exc.strerror}")
        return
    parts = [("the run's start", str(run.get("sha256", "")))]
    parts += [(f"the resume at seq {e.get('seq')}", str(e["runbook_sha256"])) for e in events
              if e.get("type") == "run_resumed" and isinstance(e.get("runbook_sha256"), str)]
    if digest == parts[-1][1]:
        v.runbook = str(runbook)
        if any(sha != digest for _, sha in parts):
            v.notes.append(f"{runbook} is what the last part ran; an earlier part ran "
                           "another version")
        return
    earlier = next((label for label, sha in parts if sha == digest), None)
    if earlier:
        v.fail(MISMATCH, f"{runbook} is the runbook as of {earlier}; it changed before "
                         f"{parts[-1][0]}")
    else:
        v.fail(MISMATCH, f"{runbook} is not the runbook that ran (its SHA-256 is {digest[:16]}…, "
                         f"the run recorded {parts[-1][1][:16]}…)")


__all__ = ["CHAIN", "Verdict", "verify_log"]
