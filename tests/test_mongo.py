"""mongo steps through the engine against a real secantusd-py: checks, backup/restore, failover."""

from __future__ import annotations

import json
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
