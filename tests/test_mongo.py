"""mongo steps through the engine against a real secantusd-py: checks, backup/restore, failover."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bson
import pymongo
from bson.json_util import loads as json_loads

from swrun.events import RunFinished, RunStatus, StepFinished, StepOutput, StepStatus

from helpers import run_events, write_runbook

if TYPE_CHECKING:
    from servers import Mongod

pytest_plugins = ["servers"]

HEAD = """
+++
[vars.MONGO_URI]
secret = true
+++
# Mongo
"""


def book(tmp_path: Path, *blocks: str, uri: str = "$MONGO_URI") -> Path:
    text = HEAD
    for i, body in enumerate(blocks, 1):
        attrs, _, body = body.partition("\n") if body.startswith("{") else ("", "", body)
        text += f"\n## Step {i}\n\n```mongo {{uri={uri} {attrs.strip('{}')}}}\n{body}\n```\n"
    return write_runbook(tmp_path, text)


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def finished(events: list[Any]) -> list[StepFinished]:
    return [e for e in events if isinstance(e, StepFinished)]


def output(events: list[Any]) -> list[str]:
    return [e.line for e in events if isinstance(e, StepOutput)]


def seed(server: Mongod) -> None:
    c = server.client()
    users = c.smartwallet.users
    users.insert_many([{"email": f"u{i}@x.io", "n": i, "active": i % 2 == 0,
                        "tags": ["a", "b"], "when": bson.datetime.datetime(2026, 1, 1 + i % 28),
                        "blob": bson.Binary(bytes([i % 256]) * 8)} for i in range(250)])
    users.create_index("email", unique=True)
    users.create_index([("n", pymongo.DESCENDING), ("active", 1)], name="n_-1_active_1")
    c.smartwallet.ledger.insert_many([{"amount": bson.Decimal128("12.50"), "i": i}
                                      for i in range(40)])
    c.smartwallet.ledger.create_index("i", sparse=True)
    c.close()


def test_checks_pass_with_typed_results(tmp_path: Path, mongo: Mongod) -> None:
    seed(mongo)
    path = book(tmp_path, """ping
status
indexes smartwallet.users expect email_1,n_-1_active_1   # both needed by the API
count smartwallet.users {"active": true} expect == 125
count smartwallet.users expect >= 250""")
    events = run_events(path, given={"MONGO_URI": mongo.uri})
    [done] = finished(events)
    assert done.status is StepStatus.OK, done.error
    ops = done.data["ops"]
    assert [o["op"] for o in ops] == ["ping", "status", "indexes", "count", "count"]
    assert ops[1]["set"] == "secantus" and ops[1]["primary"] == f"127.0.0.1:{mongo.port}"
    assert ops[2]["missing"] == [] and "email_1" in ops[2]["present"]
    assert ops[3]["count"] == 125 and ops[3]["expect"] == "== 125"
    lines = output(events)
    assert "✓ indexes smartwallet.users: email_1, n_-1_active_1" in lines
    assert any(line.startswith(f"✓ ping 127.0.0.1:{mongo.port}:") for line in lines)
    assert mongo.uri not in json.dumps([e.to_record() for e in events], default=str)


def test_missing_index_fails_listing_what_is_missing(tmp_path: Path, mongo: Mongod) -> None:
    seed(mongo)
    path = book(tmp_path, "indexes smartwallet.users expect email_1,createdAt_-1,status_1")
    events = run_events(path, given={"MONGO_URI": mongo.uri})
    [done] = finished(events)
    assert done.status is StepStatus.FAILED
    assert done.error == ("mongo: indexes smartwallet.users: missing createdAt_-1, status_1 "
                          "(has _id_, email_1, n_-1_active_1)")
    assert done.data["ops"][0]["missing"] == ["createdAt_-1", "status_1"]
    assert isinstance(events[-1], RunFinished) and events[-1].status is RunStatus.FAILED


def test_count_out_of_range_fails_and_variables_are_data(tmp_path: Path, mongo: Mongod) -> None:
    seed(mongo)
    text = HEAD.replace("+++\n#", '[vars.EMAIL]\ndefault = "u1@x.io\\"}"\n+++\n#') + """
```mongo {uri=$MONGO_URI}
count smartwallet.users {"email": "$EMAIL"} expect == 1
```
"""
    events = run_events(write_runbook(tmp_path, text), given={"MONGO_URI": mongo.uri})
    [done] = finished(events)
    # the value with a quote and brace is matched as a string, not spliced into the JSON
    assert done.error == ('mongo: count smartwallet.users {"email": "u1@x.io\\"}"} is 0, '
                          "expected == 1")


def test_backup_restore_round_trip_is_honest_bson(tmp_path: Path, mongo: Mongod) -> None:
    seed(mongo)
    path = book(tmp_path, "backup smartwallet to dumps/pre-deploy",
                "restore dumps/pre-deploy to restored",
                "{on_failure=continue}\nrestore dumps/pre-deploy/smartwallet to restored",
                "restore dumps/pre-deploy to restored --drop")
    events = run_events(path, given={"MONGO_URI": mongo.uri})
    assert len(finished(events)) == 4, finished(events)[-1].error
    backup, first, again, dropped = finished(events)
    assert backup.status is StepStatus.OK, backup.error
    data = backup.data["ops"][0]
    assert data["documents"] == 290 and data["bytes"] > 0
    assert data["collections"]["users"]["indexes"] == ["_id_", "email_1", "n_-1_active_1"]

    dump = tmp_path / "dumps" / "pre-deploy" / "smartwallet"
    assert sorted(p.name for p in dump.iterdir()) == [
        "ledger.bson", "ledger.metadata.json", "users.bson", "users.metadata.json"]
    with open(dump / "users.bson", "rb") as fh:
        docs = list(bson.decode_file_iter(fh))
    assert len(docs) == 250 and (dump / "users.bson").stat().st_size == \
        data["collections"]["users"]["bytes"]
    meta = json_loads((dump / "users.metadata.json").read_text())
    assert meta["collectionName"] == "users"
    assert {ix["name"]: ix.get("unique", False) for ix in meta["indexes"]} == {
        "_id_": False, "email_1": True, "n_-1_active_1": False}
    assert '"$numberInt"' in (dump / "users.metadata.json").read_text()  # canonical, as mongodump

    assert first.status is StepStatus.OK, first.error
    assert first.data["ops"][0]["documents"] == 290
    c = mongo.client()
    for name in ("users", "ledger"):
        src = list(c.smartwallet[name].find().sort("_id", 1))
        dst = list(c.restored[name].find().sort("_id", 1))
        assert dst == src
        strip = lambda ixs: {i["name"]: {k: v for k, v in i.items() if k != "ns"} for i in ixs}  # noqa: E731
        assert strip(c.restored[name].list_indexes()) == strip(c.smartwallet[name].list_indexes())
    c.close()
    assert again.status is StepStatus.FAILED  # the target is not empty and --drop was not given
    assert again.error == ("mongo: restore: restored.ledger has 40 documents; restored.users "
                           "has 250 documents; add --drop to replace them")
    assert dropped.status is StepStatus.OK and dropped.data["ops"][0]["dropped"] is True


def test_backup_never_overwrites_an_existing_dump(tmp_path: Path, mongo: Mongod) -> None:
    seed(mongo)
    (tmp_path / "dumps" / "smartwallet").mkdir(parents=True)
    (tmp_path / "dumps" / "smartwallet" / "users.bson").write_bytes(b"")
    events = run_events(book(tmp_path, "backup smartwallet to dumps"),
                        given={"MONGO_URI": mongo.uri})
    [done] = finished(events)
    assert done.status is StepStatus.FAILED
    assert "already exists" in (done.error or "")
    assert not any(p.name.startswith(".") for p in (tmp_path / "dumps").iterdir())


def test_a_torn_dump_file_is_one_line_naming_it(tmp_path: Path, mongo: Mongod) -> None:
    seed(mongo)
    events = run_events(book(tmp_path, "backup smartwallet to dumps/torn"),
                        given={"MONGO_URI": mongo.uri})
    assert finished(events)[0].status is StepStatus.OK
    users = tmp_path / "dumps" / "torn" / "smartwallet" / "users.bson"
    users.write_bytes(users.read_bytes()[:1000])  # a copy cut off mid-document
    events = run_events(book(tmp_path, "restore dumps/torn to torn_restore --drop"),
                        given={"MONGO_URI": mongo.uri})
    [done] = finished(events)
    assert done.status is StepStatus.FAILED
    assert done.error is not None and done.error.startswith(
        f"mongo: restore: {users} is not a whole BSON file after ")
    assert "nothing after that was restored" in done.error and "\n" not in done.error


def test_forced_failover_is_measured_against_target(tmp_path: Path, mongo: Mongod) -> None:
    path = book(tmp_path, "{target=30s}\nfailover force stepdown=1s",
                "{target=200ms}\nfailover force stepdown=1s")
    events = run_events(path, given={"MONGO_URI": mongo.uri})
    ok, over = finished(events)
    assert ok.status is StepStatus.OK, ok.error
    drill = ok.data["ops"][0]
    assert drill["old_primary"] == drill["new_primary"] == f"127.0.0.1:{mongo.port}"
    assert 500 <= drill["failover_ms"] <= 10_000
    assert drill["target_ms"] == 30_000 and drill["within_target"] is True
    assert any(line.startswith("⚡ stepping down primary") for line in output(events))
    mongo.wait_writable()
    assert over.status is StepStatus.FAILED
    assert over.data["ops"][0]["within_target"] is False
    assert "over the 200ms target" in (over.error or "")


def test_failover_without_force_is_refused_clearly(tmp_path: Path, mongo: Mongod) -> None:
    events = run_events(book(tmp_path, "failover stepdown=15s catchup=2s"),
                        given={"MONGO_URI": mongo.uri})
    [done] = finished(events)
    assert done.status is StepStatus.FAILED
    assert done.error is not None
    assert done.error.startswith("mongo: failover: the primary refused to step down: ")
    assert done.error.endswith("(add force to step down without a caught-up secondary)")


def test_database_down_is_one_clear_line(tmp_path: Path) -> None:
    port = unused_port()
    path = book(tmp_path, "{timeout=1s}\nping")
    events = run_events(path, given={"MONGO_URI": f"mongodb://127.0.0.1:{port}/"})
    [done] = finished(events)
    assert done.status is StepStatus.FAILED
    assert done.error is not None
    assert done.error.startswith(f"mongo: cannot reach 127.0.0.1:{port} within 1s (server "
                                 "selection timeout)")
    assert "\n" not in done.error and "Traceback" not in done.error


def test_an_unknown_uri_option_is_an_error_not_a_warning(tmp_path: Path, recwarn) -> None:
    path = book(tmp_path, "{timeout=1s}\nping")
    uri = f"mongodb://admin:pw-in-uri-123@127.0.0.1:{unused_port()}/?authSorce=admin"
    events = run_events(path, given={"MONGO_URI": uri})
    [done] = finished(events)
    assert done.status is StepStatus.FAILED
    assert (done.error or "").startswith("mongo: bad connection string in uri=")
    assert "did you mean one of (authsource" in (done.error or "").lower()
    assert "pw-in-uri-123" not in (done.error or "")
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_wrong_credentials_never_print_the_uri(tmp_path: Path, secantus_auth: Mongod) -> None:
    uri = f"mongodb://admin:Hunter2-not-this@127.0.0.1:{secantus_auth.port}/?authSource=admin"
    text = ('+++\n[vars.DB]\ndescription = "a name that does not look secret"\n+++\n# M\n\n'
            "```mongo {uri=$DB}\nping\n```\n")
    events = run_events(write_runbook(tmp_path, text), given={"DB": uri})
    [done] = finished(events)
    assert done.status is StepStatus.FAILED
    assert done.error == (f"mongo: authentication failed on 127.0.0.1:{secantus_auth.port} "
                          "(check the user and password in uri=)")
    dumped = json.dumps([e.to_record() for e in events], default=str)
    assert "Hunter2" not in dumped and uri not in dumped


def test_collection_names_are_file_names_not_paths(tmp_path: Path, mongo: Mongod) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    names = ["/etc/evil", f"{outside}/evil", "sub/dir", "x/../../escape", "a%2Fb", "café ☕",
             "a..b", "trail.", "L" * 245, "ü" * 60 + "/x"]
    c = mongo.client()
    db = c.names
    for i, name in enumerate(names):
        db.command("create", name)
        db.command("insert", name, documents=[{"_id": j, "i": i, "name": name}
                                              for j in range(3)])
    db.command("createIndexes", "sub/dir", indexes=[{"key": {"i": 1}, "name": "i_1"}])
    path = book(tmp_path, "backup names to dumps", "restore dumps to back")
    events = run_events(path, given={"MONGO_URI": mongo.uri})
    backup, restore = finished(events)
    assert backup.status is StepStatus.OK, backup.error
    assert restore.status is StepStatus.OK, restore.error
    assert list(outside.iterdir()) == []  # nothing written where a name pointed
    assert not Path("/etc/evil.bson").exists() and not (tmp_path / "escape.bson").exists()
    dump = tmp_path / "dumps" / "names"
    files = sorted(p.name for p in dump.iterdir())
    assert all(p.is_file() and p.parent == dump for p in dump.iterdir())
    assert len(files) == 2 * len(names)
    assert "sub%2Fdir.bson" in files and "a%252Fb.bson" in files  # as mongodump names them
    assert "caf%C3%A9%20%E2%98%95.metadata.json" in files and "trail..bson" in files
    assert max(len(f) for f in files) <= 255
    # past 238 characters, mongodump's shortened name: 208 of them, %24, base64url(SHA-1)
    digest = base64.urlsafe_b64encode(hashlib.sha1(b"L" * 245).digest()).decode().rstrip("=")
    assert f"{'L' * 208}%24{digest}.bson" in files
    assert backup.data["ops"][0]["collections"]["sub/dir"]["file"] == "sub%2Fdir.bson"
    assert "  names.sub/dir → sub%2Fdir.bson: 3 documents, " in "\n".join(output(events))
    back = sorted(c.back.list_collection_names())
    assert back == sorted(names)
    for name in names:
        assert [d["name"] for d in c.back.get_collection("x").database.command(
            "find", name)["cursor"]["firstBatch"]] == [name] * 3
    assert "i_1" in [ix["name"] for ix in c.back["sub/dir"].list_indexes()]
    c.close()


def old_dump(where: Path, name: str, docs: list[dict[str, Any]], meta: bool = True) -> None:
    """A dump file as swrun wrote it before names were encoded (or as a hand-made dump)."""
    where.mkdir(parents=True, exist_ok=True)
    (where / f"{name}.bson").write_bytes(b"".join(bson.encode(d) for d in docs))
    if meta:
        (where / f"{name}.metadata.json").write_text(json.dumps(
            {"indexes": [{"v": 2, "key": {"_id": 1}, "name": "_id_"}], "uuid": "",
             "collectionName": name, "type": "collection", "options": {}}))


def test_restore_reads_dumps_written_before_names_were_encoded(tmp_path: Path,
                                                              mongo: Mongod) -> None:
    dump = tmp_path / "old" / "app"
    old_dump(dump, "users", [{"_id": 1}, {"_id": 2}])
    old_dump(dump, "café", [{"_id": 3}])
    old_dump(dump, "a%2Fb", [{"_id": 4}])  # its metadata says the name is "a%2Fb" as written
    old_dump(dump, "c%2Fd", [{"_id": 5}], meta=False)  # no metadata: decoded as mongorestore
    events = run_events(book(tmp_path, "restore old to app"), given={"MONGO_URI": mongo.uri})
    [done] = finished(events)
    assert done.status is StepStatus.OK, done.error
    c = mongo.client()
    assert sorted(c.app.list_collection_names()) == ["a%2Fb", "c/d", "café", "users"]
    assert c.app.users.count_documents({}) == 2 and c.app["c/d"].find_one() == {"_id": 5}
    c.close()


def test_restore_refuses_links_out_and_names_mongodb_cannot_hold(tmp_path: Path,
                                                                 mongo: Mongod) -> None:
    secret = tmp_path / "secret.bson"
    secret.write_bytes(bson.encode({"_id": "not yours"}))
    linked = tmp_path / "linked" / "app"
    old_dump(linked, "users", [{"_id": 1}])
    os.symlink(secret, linked / "stolen.bson")
    dotted = tmp_path / "dotted" / "app"
    dotted.mkdir(parents=True)
    (dotted / "%2E%2E.bson").write_bytes(bson.encode({"_id": 1}))
    events = run_events(book(tmp_path, "{on_failure=continue}\nrestore linked to app",
                             "restore dotted to app"), given={"MONGO_URI": mongo.uri})
    link, dots = finished(events)
    assert link.status is StepStatus.FAILED
    assert link.error == (f"mongo: restore: {linked / 'stolen.bson'} is a symbolic link to "
                          f"{secret}, outside {tmp_path / 'linked'}; refusing to read it")
    assert dots.status is StepStatus.FAILED
    assert dots.error == (f"mongo: restore: {dotted / '%2E%2E.bson'} names the collection "
                          "'..', which MongoDB does not allow")
    c = mongo.client()
    assert c.app.list_collection_names() == []  # refused before writing anything
    c.close()


def test_backup_refuses_a_link_where_the_dump_goes(tmp_path: Path, mongo: Mongod) -> None:
    seed(mongo)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "dumps").mkdir()
    os.symlink(elsewhere, tmp_path / "dumps" / "smartwallet")
    events = run_events(book(tmp_path, "backup smartwallet to dumps"),
                        given={"MONGO_URI": mongo.uri})
    [done] = finished(events)
    assert done.status is StepStatus.FAILED
    assert done.error == (f"mongo: backup: {tmp_path / 'dumps' / 'smartwallet'} is a symbolic "
                          "link; back up into a real directory")
    assert list(elsewhere.iterdir()) == []
    assert not any(p.name.startswith(".") for p in (tmp_path / "dumps").iterdir())


def test_file_names_match_mongodump_and_decode_back(tmp_path: Path) -> None:
    from urllib.parse import unquote

    from swrun.executors.mongo import _create, dump_name, dump_stem
    from swrun.ops.runtime import OpFailed

    # Go's url.PathEscape: these stay, `/ % ; , ?`, space and non-ASCII bytes are %XX
    assert dump_stem("a-b_c.d~e$f&g+h:i=j@k") == "a-b_c.d~e$f&g+h:i=j@k"
    assert dump_stem("/etc/evil") == "%2Fetc%2Fevil"
    assert dump_stem("50%;a,b?c d") == "50%25%3Ba%2Cb%3Fc%20d"
    for name in ["/etc/evil", "sub/dir", "a%2Fb", "café ☕", "x/../../y", "trail.", "Q" * 238]:
        assert unquote(dump_stem(name)) == name
        assert dump_name(dump_stem(name), {}, tmp_path / "f.bson") == name
    long = "ü" * 120
    stem = dump_stem(long)
    assert len(stem) == 238 and stem[208:211] == "%24"
    assert dump_name(stem, {"collectionName": long}, tmp_path / "f.bson") == long
    try:
        dump_name(stem, {}, tmp_path / "f.bson")
        raise AssertionError("a shortened name without metadata was accepted")
    except OpFailed as exc:
        assert "has a shortened name and no metadata file naming its collection" in exc.message
    # two collections, one file (what a case-insensitive file system does to Users and users)
    used: dict[str, str] = {}
    with _create(tmp_path, "Users.bson", "Users", used) as fh:
        fh.write(b"")
    try:
        _create(tmp_path, "Users.bson", "users", used)
        raise AssertionError("an existing file was overwritten")
    except OpFailed as exc:
        assert exc.message == ("backup: collections 'Users' and 'users' would both be written "
                               "to Users.bson (a case-insensitive file system?)")
