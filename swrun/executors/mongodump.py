"""The mongodump directory layout swrun writes and reads: file names (stems, as mongodump
shortens and escapes them), metadata, the entries of a dump, and writing/inserting them safely.
Moved out of executors/mongo.py; bson/pymongo are imported inside the functions that use them."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, unquote

from swrun.ops.runtime import OpFailed

STEM_MAX = 238
"""Longest file name stem in a dump, as mongodump: 238 + len(".metadata.json.gz") <= 255."""
_STEM_KEEP = 208
_STEM_SAFE = "$&+:=@"
"""Kept as they are besides letters, digits and `-._~`: Go's url.PathEscape, which mongodump
uses for collection names (everything else, `/` and `%` included, is %XX of its UTF-8 bytes)."""


def _documents(docs: Iterator[Any], path: Path, before: int) -> Iterator[Any]:
    """BSON documents of a dump file; a torn or corrupt file is one line naming it."""
    from bson.errors import InvalidBSON

    count = before
    try:
        for doc in docs:
            count += 1
            yield doc
    except InvalidBSON as exc:
        raise OpFailed(f"restore: {path} is not a whole BSON file after {count} "
                       f"document(s) ({exc}); nothing after that was restored") from None


def _uuid_hex(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):  # bson.Binary subtype 4
        return bytes(value).hex()
    hexed = getattr(value, "hex", "")
    return hexed if isinstance(hexed, str) else ""


def dump_stem(name: str) -> str:
    """The file name (without `.bson` / `.metadata.json`) of a collection, as mongodump names
    it: percent-encoded so it is one file name inside the dump directory, never a path; past
    STEM_MAX characters, the first 208 and `%24` and the unpadded base64url SHA-1 of the name
    (its `.metadata.json` then says the whole name)."""
    stem = quote(name, safe=_STEM_SAFE)
    if len(stem) > STEM_MAX:
        digest = hashlib.sha1(name.encode()).digest()
        stem = stem[:_STEM_KEEP] + "%24" + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return stem


def dump_name(stem: str, meta: Mapping[str, Any], path: Path) -> str:
    """The collection a dump file holds: its metadata's `collectionName` when that is the name
    the file was written for (a shortened name needs it; swrun wrote names unencoded before,
    so `a%2Fb.bson` of such a dump is `a%2Fb` when its metadata says so), otherwise the file
    name decoded as mongorestore does."""
    named = meta.get("collectionName")
    if isinstance(named, str) and named and (dump_stem(named) == stem or named == stem):
        return named
    if len(stem) == STEM_MAX and "%24" in stem:
        raise OpFailed(f"restore: {path} has a shortened name and no metadata file naming its "
                       "collection")
    try:
        name = unquote(stem, errors="strict")
    except UnicodeDecodeError:
        raise OpFailed(f"restore: {path}: the file name does not decode to a collection name "
                       "(percent-encoded UTF-8)") from None
    if not name or name.startswith(".") or "$" in name or "\x00" in name:
        raise OpFailed(f"restore: {path} names the collection {name!r}, which MongoDB does not "
                       "allow")
    return name


@dataclass(frozen=True)
class DumpEntry:
    name: str
    bson: Path | None
    meta: dict[str, Any]


def _dump_dir(root: Path, db: str) -> Path:
    """The directory holding the *.bson / *.metadata.json files under `root`."""
    if not root.is_dir():
        raise OpFailed(f"restore: {root} is not a directory")
    try:
        if _has_dump_files(root):
            return root
        subs = [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
                and _has_dump_files(d)]
    except OSError as exc:
        raise OpFailed(f"restore: cannot read {_os_where(exc)}: {_os_reason(exc)}") from None
    named = [d for d in subs if d.name == db]
    chosen = named[0] if len(named) == 1 else subs[0] if len(subs) == 1 else None
    if chosen is not None:
        _inside(chosen, root)
        return chosen
    if not subs:
        raise OpFailed(f"restore: no dump (*.bson, *.metadata.json) in {root}")
    raise OpFailed(f"restore: {root} holds dumps of {', '.join(d.name for d in subs)}; "
                   "name one directory")


def _has_dump_files(d: Path) -> bool:
    return any(p.name.endswith((".bson", ".metadata.json")) for p in d.iterdir())


def _dump_entries(src: Path, root: Path) -> list[DumpEntry]:
    """The collections of a dump directory, by name, with their files and metadata."""
    files: dict[str, dict[str, Path]] = {}
    try:
        for path in sorted(src.iterdir()):
            for suffix, kind in ((".metadata.json", "meta"), (".bson", "bson")):
                if path.name.endswith(suffix):
                    _inside(path, root)
                    if not path.is_file():
                        raise OpFailed(f"restore: {path} is not a regular file")
                    files.setdefault(path.name[: -len(suffix)], {})[kind] = path
                    break
    except OSError as exc:
        raise OpFailed(f"restore: cannot read {_os_where(exc)}: {_os_reason(exc)}") from None
    entries: list[DumpEntry] = []
    seen: dict[str, Path] = {}
    for stem, found in files.items():
        meta = _metadata(found.get("meta"))
        ref = found.get("bson") or found["meta"]
        name = dump_name(stem, meta, ref)
        if name in seen:
            raise OpFailed(f"restore: {seen[name]} and {ref} both hold the collection {name!r}; "
                           "remove one")
        seen[name] = ref
        entries.append(DumpEntry(name, found.get("bson"), meta))
    return sorted(entries, key=lambda e: e.name)


def _metadata(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    from bson.errors import BSONError
    from bson.json_util import loads

    try:
        meta = loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OpFailed(f"restore: cannot read {path}: {_os_reason(exc)}") from None
    except (ValueError, TypeError, KeyError, BSONError) as exc:
        first = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
        raise OpFailed(f"restore: {path} is not a metadata file ({first})") from None
    if not isinstance(meta, dict):
        raise OpFailed(f"restore: {path} is not a metadata file (not a JSON object)")
    return meta


def _inside(path: Path, root: Path) -> None:
    """Refuse a path of a dump that leads out of DIR (a symbolic link pointing elsewhere)."""
    target, limit = path.resolve(), root.resolve()
    if target != limit and not target.is_relative_to(limit):
        raise OpFailed(f"restore: {path} is a symbolic link to {target}, outside {root}; "
                       "refusing to read it")


def _create(directory: Path, filename: str, name: str, used: dict[str, str]) -> IO[bytes]:
    """A new file directly in `directory` (ours, just made): never through a link, never
    replacing a file. `used` maps the lower-cased names of the files made so far to their
    collections, to name both when a case-insensitive file system sees one file."""
    path = directory / filename
    if path.parent != directory or filename in (".", "..") or os.sep in filename \
            or path.resolve().parent != directory.resolve():
        raise OpFailed(f"backup: collection {name!r} would be written outside {directory}")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o666)
    except FileExistsError:
        other = used.get(filename.lower(), "another collection")
        raise OpFailed(f"backup: collections {other!r} and {name!r} would both be written to "
                       f"{filename} (a case-insensitive file system?)") from None
    used[filename.lower()] = name
    return os.fdopen(fd, "wb", buffering=1 << 20)


def _insert(db: Any, db_name: str, name: str, batch: list[Any], before: int) -> None:
    """One `insert` command (not db[name]: pymongo refuses some names the server allows)."""
    res = db.command("insert", name, documents=batch, ordered=True)
    errors = res.get("writeErrors") or []
    if errors:
        first = errors[0]
        number = before + int(first.get("index", 0)) + 1
        raise OpFailed(f"restore: {db_name}.{name}: document {number} was refused: "
                       f"{first.get('errmsg', 'write error')}")
    wce = res.get("writeConcernError")
    if wce:
        raise OpFailed(f"restore: {db_name}.{name}: write concern error: "
                       f"{wce.get('errmsg', wce)}")


def _os_reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _os_where(exc: OSError, partial: Path | None = None, dest: Path | None = None) -> str:
    """The file an OSError is about, shown at its final place rather than the partial one."""
    if not exc.filename:
        return str(dest or "the dump")
    path = Path(os.fsdecode(exc.filename))
    if partial is not None and dest is not None and path.is_relative_to(partial):
        return str(dest / path.relative_to(partial))
    return str(path)
