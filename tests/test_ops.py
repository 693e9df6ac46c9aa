"""The step languages (swrun.ops) as pure parsers, and `swrun check` / `swrun execute` on them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from swrun.ops import OpError, aws, http, mongo, validate, wait
from swrun.ops.lex import tokenize

from conftest import swrun_cmd

if TYPE_CHECKING:
    from servers import Mongod, Web

pytest_plugins = ["servers"]


def test_tokens_keep_json_and_quotes_whole_and_variables_stay_data() -> None:
    toks = tokenize('count db.c {"a": "$X y", "b": [1, 2]} expect == "$X" \'$X\'  # note',
                    {"X": '"} bad'})
    assert [t.raw for t in toks] == ["count", "db.c", '{"a": "$X y", "b": [1, 2]}', "expect",
                                     "==", '"$X"', "'$X'"]
    assert toks[5].text == '"} bad' and toks[6].text == "$X"
    [op] = mongo.parse('count db.c {"a": "$X y"} expect == 2', {"X": '"} bad'})
    assert isinstance(op, mongo.Count) and op.filter == {"a": '"} bad y'}


def test_each_language_parses_its_documented_lines() -> None:
    ops = mongo.parse("ping\nstatus max-lag=10s\nindexes app.users expect email_1,a_1\n"
                      "backup app to /b\nrestore /b to app2 --drop\nfailover force stepdown=20s")
    assert [o.name for o in ops] == ["ping", "status", "indexes", "backup", "restore",
                                     "failover"]
    assert ops[1].max_lag == 10 and ops[2].names == ("email_1", "a_1")
    assert ops[4].drop and ops[5].force and ops[5].stepdown == 20
    [req, lat, hsts] = http.parse('GET https://x/h expect 200,204 json $.s == "ok" '
                                  "header X-A ~ ^v1 body ~ up\nlatency https://x n=50 "
                                  "p95 < 200ms max < 1s\nhsts https://x min-age=1d preload")
    assert req.status == ("200", "204") and req.json[0].value == "ok" and req.body == "up"
    assert lat.n == 50 and lat.limits == (("p95", 0.2), ("max", 1.0))
    assert hsts.min_age == 86400 and hsts.preload
    [sync, inv, traffic] = aws.parse("s3 sync dist s3://bk1/p/ --delete\n"
                                     "cloudfront invalidate E1 /* /a\n"
                                     "traffic arn:aws:x:listener/l blue=90 green=10")
    assert (sync.bucket, sync.prefix, sync.delete) == ("bk1", "p", True)
    assert inv.paths == ("/*", "/a") and traffic.weights == (("blue", 90), ("green", 10))
    [w] = wait.parse("wait 15m watch GET https://x/h expect 200 every 30s")
    assert w.seconds == 900 and w.every == 30 and w.watch_kind == "http"


@pytest.mark.parametrize(("kind", "body", "message"), [
    ("mongo", "count a.b expect ~ 1", "usage: count DB.COLL [FILTER-JSON] expect OP N"),
    ("mongo", 'count a.b {"x": } expect == 1', "bad JSON"),
    ("mongo", "failover stepdown=5s catchup=5s", "catchup must be shorter than stepdown"),
    ("http", "GET ftp://x", "expected an http:// or https:// URL"),
    ("http", "GET https://x expect 20", "expect: bad status '20'"),
    ("http", 'GET https://x header A ~ "("', "bad regular expression"),
    ("aws", "s3 sync dist bucket", "expected s3://BUCKET/"),
    ("aws", "traffic arn:l blue=1000 green=0", "weight of blue must be 0-999"),
    ("aws", "cloudfront invalidate E1 index.html", "paths start with /"),
    ("wait", "wait soon", "bad duration 'soon'"),
    ("wait", "wait 1m watch restore a to b", "cannot watch 'restore'"),
    ("wait", "wait 2s watch GET https://x expect 200 every 0s", "every must be longer than 0s"),
])
def test_bad_lines_are_reported(kind: str, body: str, message: str) -> None:
    problems = validate(kind, body, {"uri": "$U"})
    assert problems and message in problems[0].message
    assert problems[0].line == 1
    with pytest.raises(OpError):
        {"mongo": mongo, "http": http, "aws": aws, "wait": wait}[kind].parse(body, {})


def test_variables_skip_value_checks_until_run_time() -> None:
    assert validate("http", "latency $URL n=$N p95 < $P", {}) == []
    assert validate("aws", "traffic $L blue=$B green=$G", {}) == []
    with pytest.raises(OpError, match="variable N has no value"):
        http.parse("latency https://x n=$N", {})


BAD = """\
+++
[vars.MONGO_URI]
secret = true
+++
# Release

```mongo {uri=$MONGO_URI}
ping
indexes users expect email_1
```

```http
GET https://api.example.com/health expect 200
latency https://api.example.com n=fifty
```

```wait
wait 15m watch ping every 30s
```

```mongo
ping
```
"""


def test_swrun_check_reports_body_lines(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(BAD)
    proc = subprocess.run([*swrun_cmd(), "check", "rb.md"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.splitlines() == [
        "rb.md:9: error: mongo: expected DB.COLLECTION, got 'users'",
        "rb.md:14: error: http: n: expected a whole number >= 1, got 'fifty'",
        "rb.md:18: error: wait: watching a mongo operation needs uri=$VARIABLE on the step",
        "rb.md:21: error: mongo: a mongo step needs uri=$VARIABLE (the connection string is "
        "a secret: declare it with secret = true)",
    ]


def test_check_and_plan_import_no_backend_library(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(BAD)
    probe = ("import sys, contextlib, io\nfrom swrun.cli import main\n"
             "for cmd in ('check', 'plan'):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        try:\n            main([cmd, sys.argv[1]], standalone_mode=False)\n"
             "        except SystemExit:\n            pass\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & "
             "{'pymongo', 'bson', 'boto3', 'botocore'}))\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "rb.md")],
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stderr


def test_swrun_execute_logs_typed_results(tmp_path: Path, web: Web, mongo: Mongod) -> None:
    """The real CLI: an http check, a mongo count and a watched wait, with the URI secret."""
    from servers import Reply

    web.routes["/health"] = Reply(200, {"status": "healthy"})
    c = mongo.client()
    c.app.users.insert_many([{"i": i} for i in range(5)])
    c.close()
    (tmp_path / "rb.md").write_text(f"""\
+++
title = "Release checks"
[vars.API]
default = "{web.url}"
[vars.MONGO_URI]
secret = true
+++
# Release checks

## Verify

```http {{name=health}}
GET $API/health expect 200 json status == "healthy"
```

```mongo {{name=users uri=$MONGO_URI}}
count app.users expect >= 5
```

```wait {{name=soak}}
wait 500ms watch GET $API/health expect 200 every 200ms
```
""")
    proc = subprocess.run(
        [*swrun_cmd(), "execute", "--yes", "rb.md", "--var", f"MONGO_URI={mongo.uri}",
         "--log", "run.toml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        env={**os.environ, "NO_COLOR": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert mongo.uri not in proc.stdout + proc.stderr
    log_text = (tmp_path / "run.toml").read_text()
    assert mongo.uri not in log_text
    log = tomllib.loads(log_text)
    done = {e["step"]: e for e in log["event"] if e["type"] == "step_finished"}
    assert done["health"]["data"]["ops"][0]["status"] == 200
    assert done["users"]["data"]["ops"][0]["count"] == 5
    assert done["soak"]["data"]["ops"][0]["checks"] >= 2
    assert json.dumps(done["users"]["data"])  # plain data, nothing exotic


@pytest.mark.parametrize(("kind", "body"), [
    ("mongo", "count $URI.users expect == 0"),
    ("mongo", "indexes $URI expect a"),
    ("aws", "s3 put f.txt $URI"),
    ("http", "GET $URI expect 200"),
])
def test_errors_quote_a_variable_as_written_never_part_of_its_value(kind: str,
                                                                    body: str) -> None:
    """Masking replaces whole secret values; an error quoting a fragment of one (the part
    before a dot, say) would slip past it."""
    secret = "mongodb://bob:TOPSECRETpw@127.0.0.1:27017/"
    parse = {"mongo": mongo, "http": http, "aws": aws}[kind].parse
    with pytest.raises(OpError) as caught:
        parse(body, {"URI": secret})
    assert "TOPSECRET" not in str(caught.value) and "$URI" in str(caught.value)


def test_an_unreadable_line_does_not_hide_the_others() -> None:
    body = 'GET https://x header X ~ [bad\nGET nope\nGET https://y expect 20\nGET "open'
    problems = validate("http", body)
    assert [p.line for p in problems] == [1, 2, 3, 4]
    assert "goes in quotes" in problems[0].message
    assert "unterminated" in problems[3].message
