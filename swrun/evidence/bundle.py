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
from swrun.evidence.verify import MISMATCH, TAMPERED, Verdict, verify_log
from swrun.files import MAX_BUNDLE_BYTES, open_regular

MANIFEST = "MANIFEST.toml"
RUNBOOK_DIR = "runbook"
INVENTORY_DIR = "inventory"
WITNESS_DIR = "witness"


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
    inventory = _used_inventory(log)
    if inventory is not None:
        files.append((f"{INVENTORY_DIR}/{inventory.name}", inventory))
    from swrun.evidence import witness

    heads = witness.mine(witness.registry_heads(verdict.run_id), verdict.run_id,
                         witness.header_hash(log)) if verdict.run_id else []
    extra = {f"{WITNESS_DIR}/{verdict.run_id}.witness":
             "".join(h.line() + "\n" for h in heads).encode()} if heads else {}
    manifest = {"bundle": {"log": log.name, "verdict": verdict.line(),
                           "packed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                "files": {**{name: _sha256(path) for name, path in files},
                          **{name: hashlib.sha256(data).hexdigest()
                             for name, data in extra.items()}}}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w") as tar:
            for name, path in files:
                tar.add(path, arcname=name, recursive=False)
            for name, blob in extra.items():
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(blob), int(time.time()), 0o600
                tar.addfile(info, io.BytesIO(blob))
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


def _used_inventory(log: Path) -> Path | None:
    """The inventory file the run recorded, when it is still here as it was."""
    from swrun.runlog import read_log

    run = read_log(log).run
    name, want = run.get("inventory"), run.get("inventory_sha256")
    if not isinstance(name, str) or not isinstance(want, str):
        return None
    for path in (Path(name), log.parent / name):
        try:
            if path.is_file() and _sha256(path) == want:
                return path
        except EvidenceError:
            continue
    return None


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open_regular(path) as fh:
            while block := fh.read(1 << 20):
                h.update(block)
        return h.hexdigest()
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror}") from None


MAX_MEMBER_BYTES = 1 << 30
"""No member of a bundle is larger than 1 GiB (a log and its output files are far less)."""
MAX_MEMBERS = 100_000


@contextlib.contextmanager
def opened(bundle: Path) -> Iterator[tuple[Path, Path, Path | None, list[str]]]:
    """The bundle unpacked into a private temporary folder (regular files only, no path
    leaving it, bounded sizes): (root, its log, its runbook, problems). The problems are
    what does not match MANIFEST.toml: a member it does not list, a file it lists that is
    missing or whose SHA-256 differs, no runbook or more than one."""
    with tempfile.TemporaryDirectory(prefix="swrun-bundle-") as tmp:
        root = Path(tmp)
        problems: list[str] = []
        try:
            with open_regular(bundle, MAX_BUNDLE_BYTES) as fh, \
                    tarfile.open(fileobj=fh, mode="r") as tar:
                members = tar.getmembers()
                if len(members) > MAX_MEMBERS:
                    raise EvidenceError(f"{bundle}: not a swrun bundle ({len(members)} members)")
                files = [m for m in members if m.isfile() and m.size <= MAX_MEMBER_BYTES]
                for m in members:
                    if not (m.isfile() or m.isdir()) or m.size > MAX_MEMBER_BYTES:
                        problems.append(f"{m.name}: not a regular file of a bundle (left out)")
                tar.extractall(root, members=[*files, *(m for m in members if m.isdir())],
                               filter="data")
        except (OSError, tarfile.TarError) as exc:
            raise EvidenceError(f"{bundle}: not a readable swrun bundle ({exc})") from None
        logs = sorted(p for p in root.glob("*.toml") if p.name != MANIFEST)
        if len(logs) != 1:
            raise EvidenceError(f"{bundle}: not a swrun bundle (it holds {len(logs)} logs at "
                                "its top, not 1)")
        problems += _against_manifest(root)
        books = sorted((root / RUNBOOK_DIR).glob("*")) if (root / RUNBOOK_DIR).is_dir() else []
        if len(books) != 1:
            problems.append(f"it holds {len(books)} runbooks under {RUNBOOK_DIR}/, not 1: the "
                            "runbook that ran cannot be checked")
        yield root, logs[0], books[0] if len(books) == 1 else None, problems


def _against_manifest(root: Path) -> list[str]:
    import tomllib

    try:
        manifest = tomllib.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"it has no {MANIFEST}"]
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return [f"{MANIFEST} cannot be read ({exc})"]
    listed = manifest.get("files")
    if not isinstance(listed, dict) or not all(isinstance(v, str) for v in listed.values()):
        return [f"{MANIFEST} has no [files] table of SHA-256s"]
    problems = []
    present = {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    for name in sorted(present - set(listed)):
        problems.append(f"{name} is not in {MANIFEST}: added after the bundle was made")
    for name, digest in sorted(listed.items()):
        if name not in present:
            problems.append(f"{name}, listed in {MANIFEST}, is missing")
        elif _sha256(root / name) != digest:
            problems.append(f"{name} differs from the SHA-256 {MANIFEST} records")
    return problems


def verify_bundle(bundle: Path, *, allowed_signers: Path | None, runbook: Path | None = None,
                  shown: str | None = None, witnesses: list[Path] | None = None) -> Verdict:
    """Verify the log a bundle holds, against its own runbook unless `runbook` is given, and
    the bundle itself against its MANIFEST.toml. Paths in the verdict are the bundle's."""
    with opened(bundle) as (root, log, packed, problems):
        name = f"{shown or bundle}:{log.name}"
        packed_heads = sorted((root / WITNESS_DIR).glob("*.witness")) \
            if (root / WITNESS_DIR).is_dir() else []
        verdict = verify_log(log, allowed_signers=allowed_signers, runbook=runbook or packed,
                             shown=name, witnesses=[*packed_heads, *(witnesses or [])])
        for problem in problems:
            verdict.fail(TAMPERED, f"bundle: {problem}")
        _inventory(verdict, root, log)
        inside = f"{shown or bundle}:"
        verdict.problems = [(s, t.replace(f"{root}/", inside).replace(str(root), inside))
                            for s, t in verdict.problems]
        verdict.notes = [t.replace(f"{root}/", inside) for t in verdict.notes]
        if verdict.runbook:
            verdict.runbook = verdict.runbook.replace(f"{root}/", inside)
        return verdict


def _inventory(verdict: Verdict, root: Path, log: Path) -> None:
    """The inventory the log records (`inventory_sha256`), when the bundle holds one."""
    from swrun.runlog import read_log

    folder = root / INVENTORY_DIR
    found = sorted(folder.glob("*")) if folder.is_dir() else []
    try:
        want = read_log(log).run.get("inventory_sha256")
    except Exception:  # the log's own verdict already says what is wrong with it
        return
    if not want:
        return
    if not found:
        verdict.notes.append("the run used an inventory; the bundle does not hold it")
    elif _sha256(found[0]) != want:
        verdict.fail(MISMATCH, f"{INVENTORY_DIR}/{found[0].name} is not the inventory the run "
                               "used (SHA-256)")


