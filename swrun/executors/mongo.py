"""MongoDB steps through pymongo: ping, status, indexes, count, backup/restore, failover drill.

The connection string (`uri=`) is a secret: it never appears in output, errors or data. Only
host:port lists are shown. pymongo/bson are imported here, on the run path only.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from typing import Any

from swrun.durations import format_duration
from swrun.events import StepStatus
from swrun.executors.base import Output, StepContext, StepResult
from swrun.executors.mongodump import (  # the dump layout
    _create,
    _documents,
    _dump_dir,
    _dump_entries,
    _insert,
    _os_reason,
    _os_where,
    _uuid_hex,
    dump_stem,
)
from swrun.executors.mongodump import dump_name as dump_name  # its old place (tests)
from swrun.model import Step
from swrun.ops import mongo as lang
from swrun.ops.lex import OpError
from swrun.ops.runtime import Budget, OpFailed, human_bytes, local_path, run_ops, secret_masker

SELECTION_TIMEOUT = 5.0
"""Seconds to find a server before saying the database cannot be reached."""
POLL = 0.1
BATCH_DOCS = 1000
BATCH_BYTES = 8 * 1024 * 1024
_COMPARE = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


class MongoExecutor:
    """Runs a mongo block's operations in order against `uri=`."""

    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | StepResult]:
        masker = secret_masker(ctx)
        try:
            uri = resolve_uri(step, ctx)
            ops = lang.parse(step.body, ctx.variables)
        except OpError as exc:
            yield StepResult(StepStatus.FAILED, error=masker.mask(f"mongo: {exc}"))
            return
        session = MongoSession(uri, ctx, Budget(ctx), step.seconds("target"))
        yield from run_ops("mongo", ops, session.run, session.masker, finish=session.close)


def resolve_uri(step: Step, ctx: StepContext) -> str:
    raw = step.text("uri")
    if not raw:
        raise OpError("the step needs uri=$VARIABLE (a MongoDB connection string)")
    return raw  # the engine filled in $NAME (and refused an empty value)


class MongoSession:
    """One client for a step (or a watched wait), connected on first use."""

    def __init__(self, uri: str, ctx: StepContext, budget: Budget,
                 target: float | None = None) -> None:
        self.uri = uri
        self.ctx = ctx
        self.budget = budget
        self.target = target
        self.masker = secret_masker(ctx, _uri_secrets(uri))
        self.client: Any = None
        self.hosts = _hosts(uri)

    # -- connection -------------------------------------------------------------------------
    def connect(self) -> Any:
        if self.client is not None:
            return self.client
        import pymongo
        from pymongo.errors import ConfigurationError, InvalidURI

        try:
            with warnings.catch_warnings():
                # pymongo only warns about an unknown option: a typo such as `authSorce=`
                # would connect with other settings than meant, so it is an error here
                warnings.simplefilter("error", UserWarning)
                self.client = pymongo.MongoClient(
                    self.uri, serverSelectionTimeoutMS=int(SELECTION_TIMEOUT * 1000),
                    connectTimeoutMS=int(SELECTION_TIMEOUT * 1000), appname="swrun")
        except (InvalidURI, ConfigurationError, ValueError, TypeError, UserWarning) as exc:
            raise OpFailed(f"bad connection string in uri=: {self.masker.mask(str(exc))}") \
                from None
        self._reach()
        return self.client

    def _reach(self) -> None:
        """Ping until a server answers, in short slices so an abort is honoured at once."""
        import pymongo
        from pymongo.errors import OperationFailure, PyMongoError

        limit = self.budget.remaining(SELECTION_TIMEOUT) or SELECTION_TIMEOUT
        deadline = time.monotonic() + limit
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.budget.cancel.is_set():
                self.budget.check()
            try:
                with pymongo.timeout(min(0.5, max(0.05, deadline - time.monotonic()))):
                    self.client.admin.command("ping")
                return
            except OperationFailure as exc:
                raise OpFailed(self.explain(exc, "ping")) from None
            except PyMongoError as exc:
                last = exc
        raise OpFailed(f"cannot reach {self.hosts} within {round(limit, 1):g}s (server selection "
                       f"timeout){_cause(last)}")

    def explain(self, exc: Exception, what: str) -> str:
        """One line for a pymongo error, without the connection string."""
        from pymongo.errors import (
            AutoReconnect,
            OperationFailure,
            ServerSelectionTimeoutError,
        )

        if isinstance(exc, OperationFailure):
            code = exc.code
            if code == 18:
                return (f"authentication failed on {self.hosts} (check the user and password "
                        "in uri=)")
            msg = (exc.details or {}).get("errmsg") or str(exc).split(", full error")[0]
            if code == 13:
                return self.masker.mask(f"{what}: not authorized ({msg})")
            return self.masker.mask(f"{what}: {msg}")
        if isinstance(exc, ServerSelectionTimeoutError):
            return f"{what}: no suitable server on {self.hosts} (server selection timeout)"
        if isinstance(exc, AutoReconnect):
            return f"{what}: connection to {self.hosts} lost"
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return self.masker.mask(f"{what}: {type(exc).__name__}: {first[:300]}")

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    # -- operations -------------------------------------------------------------------------
    def run(self, op: lang.MongoOp) -> Iterator[Output]:
        """One operation: yields lines, returns its data; raises OpFailed / Stopped."""
        from pymongo.errors import PyMongoError

        self.budget.check()
        client = self.connect()
        handler = getattr(self, f"_{op.name}")
        try:
            return (yield from handler(client, op))
        except PyMongoError as exc:
            raise OpFailed(self.explain(exc, op.name)) from None

    def _ping(self, client: Any, op: lang.Ping) -> Iterator[Output]:
        t0 = time.perf_counter()
        client.admin.command("ping")
        ms = (time.perf_counter() - t0) * 1000
        version = client.server_info().get("version", "?")
        yield Output(f"✓ ping {self.hosts}: {ms:.1f} ms (MongoDB {version})")
        return {"hosts": self.hosts, "ms": round(ms, 2), "version": version}

    def _status(self, client: Any, op: lang.Status) -> Iterator[Output]:
        from pymongo.errors import OperationFailure

        try:
            st = client.admin.command("replSetGetStatus")
        except OperationFailure as exc:
            if exc.code in (76, 123):  # NoReplicationEnabled / NotAReplicaSet
                yield Output(f"✓ {self.hosts}: a standalone server (no replica set)")
                return {"set": "", "standalone": True, "members": []}
            raise
        members = st.get("members", [])
        primary = next((m for m in members if m.get("stateStr") == "PRIMARY"), None)
        p_time = primary.get("optimeDate") if primary else None
        rows, problems, worst = [], [], 0.0
        for m in members:
            lag = None
            if p_time is not None and m is not primary and m.get("optimeDate") is not None:
                lag = max(0.0, (p_time - m["optimeDate"]).total_seconds())
                worst = max(worst, lag)
            healthy = m.get("health", 1) == 1 and m.get("stateStr") in (
                "PRIMARY", "SECONDARY", "ARBITER")
            if not healthy:
                problems.append(f"{m.get('name')} is {m.get('stateStr')}")
            if lag is not None and op.max_lag is not None and lag > op.max_lag:
                problems.append(f"{m.get('name')} lags {format_duration(lag)}")
            mark = "✓" if healthy else "✗"
            lag_text = f", lag {format_duration(lag)}" if lag is not None else ""
            yield Output(f"  {mark} {m.get('name')} {m.get('stateStr')}{lag_text}")
            rows.append({"name": m.get("name"), "state": m.get("stateStr"),
                         "health": m.get("health"), "lag_s": lag})
        if primary is None:
            problems.insert(0, "no primary")
        data = {"set": st.get("set", ""), "primary": primary.get("name") if primary else "",
                "members": rows, "max_lag_s": round(worst, 3)}
        if problems:
            raise OpFailed(f"status of replica set {st.get('set')}: {'; '.join(problems)}", data)
        yield Output(f"✓ replica set {st.get('set')}: primary {data['primary']}, "
                     f"{len(members)} member(s), max lag {format_duration(worst)}")
        return data

    def _indexes(self, client: Any, op: lang.Indexes) -> Iterator[Output]:
        coll = client[op.db][op.coll]
        have = [ix["name"] for ix in coll.list_indexes()]
        missing = [n for n in op.names if n not in have]
        data = {"ns": f"{op.db}.{op.coll}", "expected": list(op.names), "present": have,
                "missing": missing}
        if not have:
            raise OpFailed(f"indexes {op.db}.{op.coll}: the collection does not exist", data)
        if missing:
            raise OpFailed(f"indexes {op.db}.{op.coll}: missing {', '.join(missing)} "
                           f"(has {', '.join(have)})", data)
        yield Output(f"✓ indexes {op.db}.{op.coll}: {', '.join(op.names)}")
        return data

    def _count(self, client: Any, op: lang.Count) -> Iterator[Output]:
        from bson import json_util

        flt = json_util.loads(json.dumps(op.filter)) if op.filter else {}
        n = client[op.db][op.coll].count_documents(flt)
        shown = f" {json.dumps(op.filter)}" if op.filter else ""
        data = {"ns": f"{op.db}.{op.coll}", "filter": json.dumps(op.filter), "count": n,
                "expect": f"{op.op} {op.n}"}
        if not _COMPARE[op.op](n, op.n):
            raise OpFailed(f"count {op.db}.{op.coll}{shown} is {n}, expected {op.op} {op.n}",
                           data)
        yield Output(f"✓ count {op.db}.{op.coll}{shown} = {n} ({op.op} {op.n})")
        return data

    def _backup(self, client: Any, op: lang.Backup) -> Iterator[Output]:
        from bson.codec_options import CodecOptions
        from bson.json_util import CANONICAL_JSON_OPTIONS, dumps
        from bson.raw_bson import RawBSONDocument

        root = local_path(self.ctx, op.dir)
        dest = root / op.db
        if dest.is_symlink():
            raise OpFailed(f"backup: {dest} is a symbolic link; back up into a real directory")
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise OpFailed(f"backup: {dest} already exists; back up into a new directory")
        raw = CodecOptions(document_class=RawBSONDocument)
        db = client.get_database(op.db, codec_options=raw)
        infos = sorted((i for i in client[op.db].list_collections()
                        if not i["name"].startswith("system.")), key=lambda i: i["name"])
        if not infos:
            raise OpFailed(f"backup: database {op.db} has no collections")
        try:
            root.mkdir(parents=True, exist_ok=True)
            partial = root / f".{op.db}.partial-{os.getpid()}"
            if partial.is_symlink() or partial.is_file():
                partial.unlink()  # a link is removed, never followed
            else:
                shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()  # a new directory of our own: nothing in it was planted beforehand
        except OSError as exc:
            raise OpFailed(f"backup: cannot create {root}: {_os_reason(exc)}") from None
        t0 = time.perf_counter()
        colls: dict[str, Any] = {}
        used: dict[str, str] = {}
        try:
            for info in infos:
                name = info["name"]
                stem = dump_stem(name)
                kind = info.get("type", "collection")
                meta: dict[str, Any] = {"indexes": [], "uuid": "", "collectionName": name,
                                        "type": kind, "options": info.get("options", {})}
                uuid = info.get("info", {}).get("uuid")
                meta["uuid"] = _uuid_hex(uuid)
                docs = size = 0
                if kind == "collection":
                    # commands, not db[name]: pymongo refuses names the server allows ("a..b")
                    with db.cursor_command("listIndexes", name,
                                           codec_options=CodecOptions()) as ixs:
                        meta["indexes"] = [{k: v for k, v in ix.items() if k != "ns"}
                                           for ix in ixs]
                    with _create(partial, f"{stem}.bson", name, used) as fh, \
                            db.cursor_command("find", name, codec_options=raw) as cursor:
                        for doc in cursor:
                            data = doc.raw
                            fh.write(data)
                            docs += 1
                            size += len(data)
                            if docs % BATCH_DOCS == 0:
                                self.budget.check()
                        fh.flush()
                        os.fsync(fh.fileno())
                with _create(partial, f"{stem}.metadata.json", name, used) as fh:
                    fh.write(dumps(meta, json_options=CANONICAL_JSON_OPTIONS).encode())
                colls[name] = {"file": f"{stem}.bson", "documents": docs, "bytes": size,
                               "indexes": [ix["name"] for ix in meta["indexes"]]}
                shown = f" → {stem}.bson" if stem != name else ""
                yield Output(f"  {op.db}.{name}{shown}: {docs} documents, "
                             f"{human_bytes(size)}, {len(meta['indexes'])} index(es)")
            if dest.is_symlink():
                raise OpFailed(f"backup: {dest} is a symbolic link; back up into a real "
                               "directory")
            if dest.exists():
                dest.rmdir()  # empty (checked above)
            partial.rename(dest)
        except OSError as exc:
            raise OpFailed(f"backup: cannot write {_os_where(exc, partial, dest)}: "
                           f"{_os_reason(exc)}") from None
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        seconds = time.perf_counter() - t0
        total_docs = sum(c["documents"] for c in colls.values())
        total_bytes = sum(c["bytes"] for c in colls.values())
        yield Output(f"✓ backup {op.db} → {dest}: {len(colls)} collection(s), {total_docs} "
                     f"documents, {human_bytes(total_bytes)} in {format_duration(seconds)}")
        return {"db": op.db, "dir": str(dest), "documents": total_docs, "bytes": total_bytes,
                "seconds": round(seconds, 3), "collections": colls}

    def _restore(self, client: Any, op: lang.Restore) -> Iterator[Output]:
        from bson import decode_file_iter
        from bson.codec_options import CodecOptions
        from bson.raw_bson import RawBSONDocument
        from pymongo.errors import OperationFailure

        root = local_path(self.ctx, op.dir)
        src = _dump_dir(root, op.db)
        entries = _dump_entries(src, root)
        db = client.get_database(op.db, codec_options=CodecOptions())
        if not op.drop:
            busy = [f"{op.db}.{e.name} has {c} documents" for e in entries
                    if (c := int(db.command("count", e.name).get("n", 0))) > 0]
            if busy:
                raise OpFailed(f"restore: {'; '.join(busy)}; add --drop to replace them")
        raw = CodecOptions(document_class=RawBSONDocument)
        t0 = time.perf_counter()
        colls: dict[str, Any] = {}
        for entry in entries:
            self.budget.check()
            name, meta = entry.name, entry.meta
            options = dict(meta.get("options") or {})
            if op.drop:
                try:
                    db.command("drop", name)
                except OperationFailure as exc:
                    if exc.code != 26:  # NamespaceNotFound: nothing to drop
                        raise
            if meta.get("type") == "view" or options:
                db.command("create", name, **options)
            docs = size = 0
            if entry.bson is not None:
                batch: list[Any] = []
                batch_bytes = 0
                try:
                    fh = open(entry.bson, "rb", buffering=1 << 20)  # noqa: SIM115
                except OSError as exc:
                    raise OpFailed(f"restore: cannot read {entry.bson}: {_os_reason(exc)}") \
                        from None
                with fh:
                    for doc in _documents(decode_file_iter(fh, raw), entry.bson, docs):
                        if batch and (len(batch) >= BATCH_DOCS
                                      or batch_bytes + len(doc.raw) > BATCH_BYTES):
                            _insert(db, op.db, name, batch, docs)
                            docs, size = docs + len(batch), size + batch_bytes
                            batch, batch_bytes = [], 0
                            self.budget.check()
                        batch.append(doc)
                        batch_bytes += len(doc.raw)
                    if batch:
                        _insert(db, op.db, name, batch, docs)
                        docs, size = docs + len(batch), size + batch_bytes
            specs = [{k: v for k, v in ix.items() if k not in ("ns",)}
                     for ix in meta.get("indexes", []) if ix.get("name") != "_id_"]
            if specs:
                db.command("createIndexes", name, indexes=specs)
            colls[name] = {"documents": docs, "bytes": size,
                           "indexes": ["_id_", *(s["name"] for s in specs)]
                           if meta.get("type", "collection") == "collection" else []}
            yield Output(f"  {op.db}.{name}: {docs} documents, {human_bytes(size)}, "
                         f"{len(specs)} index(es) rebuilt")
        seconds = time.perf_counter() - t0
        total_docs = sum(c["documents"] for c in colls.values())
        total_bytes = sum(c["bytes"] for c in colls.values())
        yield Output(f"✓ restore {src} → {op.db}: {len(colls)} collection(s), {total_docs} "
                     f"documents, {human_bytes(total_bytes)} in {format_duration(seconds)}"
                     f"{' (dropped first)' if op.drop else ''}")
        return {"db": op.db, "dir": str(src), "documents": total_docs, "bytes": total_bytes,
                "seconds": round(seconds, 3), "dropped": op.drop, "collections": colls}

    def _failover(self, client: Any, op: lang.Failover) -> Iterator[Output]:
        from pymongo.errors import ConnectionFailure, OperationFailure

        hello = client.admin.command("hello")
        if not hello.get("setName"):
            raise OpFailed("failover: the server is not a replica set member; there is no "
                           "primary to step down")
        old = hello.get("primary", "")
        members = list(dict.fromkeys([*hello.get("hosts", []), *hello.get("passives", [])]))
        catchup = op.catchup if op.catchup is not None else min(10.0, op.stepdown - 1)
        probes = [self._direct(m) for m in members]
        target = self.target
        limit = max(120.0, 4 * target) if target else 120.0
        yield Output(f"⚡ stepping down primary {old} ({'force, ' if op.force else ''}"
                     f"stepdown {format_duration(op.stepdown)}, catch-up "
                     f"{format_duration(catchup)})")
        t0 = time.perf_counter()
        try:
            client.admin.command("replSetStepDown", int(op.stepdown), force=op.force,
                                 secondaryCatchUpPeriodSecs=int(catchup))
        except ConnectionFailure:
            pass  # mongod closes its connections when it steps down
        except OperationFailure as exc:
            hint = "" if op.force else " (add force to step down without a caught-up secondary)"
            for p in probes:
                p.close()
            raise OpFailed(self.explain(exc, "failover: the primary refused to step down")
                           + hint) from None
        stepped = time.perf_counter() - t0
        new = ""
        try:
            while True:
                for member, probe in zip(members, probes, strict=True):
                    try:
                        h = probe.admin.command("hello")
                    except ConnectionFailure:
                        continue
                    if h.get("isWritablePrimary"):
                        new = member
                        break
                if new:
                    break
                elapsed = time.perf_counter() - t0
                if elapsed >= limit:
                    raise OpFailed(f"failover: no writable primary within "
                                   f"{format_duration(limit)}", {"old_primary": old})
                self.budget.sleep(POLL)
        finally:
            for p in probes:
                p.close()
        took = time.perf_counter() - t0
        data = {"old_primary": old, "new_primary": new, "failover_ms": round(took * 1000),
                "stepdown_s": op.stepdown, "force": op.force,
                "stepdown_call_ms": round(stepped * 1000)}
        if target is not None:
            data["target_ms"] = round(target * 1000)
            data["within_target"] = took <= target
        moved = "moved to" if new != old else "back on"
        against = f" (target {format_duration(target)})" if target else ""
        if target is not None and took > target:
            raise OpFailed(f"failover took {format_duration(took)}, over the "
                           f"{format_duration(target)} target", data)
        yield Output(f"✓ writable primary {moved} {new} after {format_duration(took)}{against}")
        return data

    def _direct(self, member: str) -> Any:
        """A client to one member only, with the URI's credentials and TLS settings."""
        import pymongo
        from pymongo.uri_parser import parse_uri

        parsed = parse_uri(self.uri)
        opts = {k: v for k, v in parsed["options"].items()
                if k.lower() not in ("replicaset", "directconnection", "readpreference",
                                     "serverselectiontimeoutms", "connecttimeoutms")}
        if parsed.get("username"):
            opts["username"] = parsed["username"]
            opts["password"] = parsed.get("password")
        host, _, port = member.rpartition(":")
        return pymongo.MongoClient(host, int(port), directConnection=True,
                                   serverSelectionTimeoutMS=1000, connectTimeoutMS=1000,
                                   appname="swrun-failover", **opts)


def _hosts(uri: str) -> str:
    """host:port list of a connection string, without credentials or options."""
    rest = uri.split("://", 1)[-1]
    rest = rest.rsplit("@", 1)[-1]
    hosts = rest.split("/", 1)[0].split("?", 1)[0]
    return hosts or "the server"


def _uri_secrets(uri: str) -> list[str]:
    """The whole URI and its password, to be masked wherever they might show."""
    out = [uri]
    userinfo = uri.split("://", 1)[-1].split("/", 1)[0]
    if "@" in userinfo:
        creds = userinfo.rsplit("@", 1)[0]
        password = creds.partition(":")[2]
        out.append(password)
        from urllib.parse import unquote

        out.append(unquote(password))
    return out


def _cause(exc: Exception | None) -> str:
    if exc is None:
        return ""
    text = str(exc).split(" (configured timeouts")[0].split(", Timeout:")[0]
    return f": {text.splitlines()[0][:160]}" if text else ""

