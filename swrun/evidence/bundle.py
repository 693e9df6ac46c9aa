"""`swrun verify LOG --bundle OUT.tar`: one archive a change ticket can hold — the log, its
signature, its output files, its approvals and the runbook — verified again as it is read
back, and `swrun verify OUT.tar` to check one later.

Layout (names relative to the log's folder, so the log's own references hold):

    <log>.toml
    <log>.toml.sig
    <log>.output/…          the output files its events name
    <log>.approvals/…       signed approvals the run read
    runbook/<name>.md       the runbook (when given or found and it is the one that ran)
    MANIFEST.toml           each file's SHA-256, and the verdict when it was packed
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import tomli_w

from swrun.errors import EvidenceError
from swrun.evidence.approve import approvals_dir
from swrun.evidence.sign import sig_path
from swrun.evidence.verify import Verdict, verify_log
from swrun.files import MAX_BUNDLE_BYTES, open_regular

MANIFEST = "MANIFEST.toml"
RUNBOOK_DIR = "runbook"


def make_bundle(log: Path, out: Path, verdict: Verdict, *, runbook: Path | None,
                allowed_signers: Path | None) -> Verdict:
    """Pack a verified log into `out` and verify the packed copy; the copy's verdict. The
    archive is written beside `out` and renamed into place only when the copy verifies."""
    files: list[tuple[str, Path]] = [(log.name, log)]
    sig = sig_path(log)
    if sig.is_file():
        files.append((sig.name, sig))
    for rel in verdict.sidecars:
        files.append((rel, log.parent / rel))
    approvals = approvals_dir(log)
    if approvals.is_dir():
        files += [(f"{approvals.name}/{p.name}", p) for p in sorted(approvals.iterdir())
                  if p.is_file() and p.name.endswith(".approval")]
    if runbook is not None:
        files.append((f"{RUNBOOK_DIR}/{runbook.name}", runbook))
    manifest = {"bundle": {"log": log.name, "verdict": verdict.line(),
                           "packed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                "files": {name: _sha256(path) for name, path in files}}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with tarfile.open(tmp, "w") as tar:
            for name, path in files:
                tar.add(path, arcname=name, recursive=False)
            data = tomli_w.dumps(manifest).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
        again = verify_bundle(tmp, allowed_signers=allowed_signers, shown=str(out))
        if not again.ok:
            raise EvidenceError(f"{out}: the packed copy does not verify: {again.line()}")
        os.replace(tmp, out)
    except OSError as exc:
        raise EvidenceError(f"{out}: cannot write the bundle: {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return again


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open_regular(path) as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        return h.hexdigest()
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror}") from None


@contextlib.contextmanager
def opened(bundle: Path) -> Iterator[tuple[Path, Path | None]]:
    """The bundle unpacked into a private temporary folder (regular files only, no path
    leaving it): its log and its runbook, if it has one."""
    with tempfile.TemporaryDirectory(prefix="swrun-bundle-") as tmp:
        root = Path(tmp)
        try:
            with open_regular(bundle, MAX_BUNDLE_BYTES) as fh, \
                    tarfile.open(fileobj=fh, mode="r") as tar:
                members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
                tar.extractall(root, members=members, filter="data")
        except (OSError, tarfile.TarError) as exc:
            raise EvidenceError(f"{bundle}: not a readable swrun bundle ({exc})") from None
        logs = sorted(p for p in root.glob("*.toml") if p.name != MANIFEST)
        if len(logs) != 1:
            raise EvidenceError(f"{bundle}: not a swrun bundle (it holds {len(logs)} logs at "
                                "its top, not 1)")
        books = sorted((root / RUNBOOK_DIR).glob("*")) if (root / RUNBOOK_DIR).is_dir() else []
        yield logs[0], books[0] if len(books) == 1 else None


def verify_bundle(bundle: Path, *, allowed_signers: Path | None, runbook: Path | None = None,
                  shown: str | None = None) -> Verdict:
    """Verify the log a bundle holds, against its own runbook unless `runbook` is given."""
    with opened(bundle) as (log, packed):
        name = f"{shown or bundle}:{log.name}"
        return verify_log(log, allowed_signers=allowed_signers, runbook=runbook or packed,
                          shown=name)
