"""`swrun check` through the real console script: every problem, one line each, exit 3 or 0."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SEEDS = Path(__file__).resolve().parent / "data" / "seeds"

INVENTORY = """\
[web]
web1 ansible_host=127.0.0.1
web2 ansible_host=127.0.0.1

[db]
db1 ansible_host=127.0.0.1
"""

BROKEN = """\
+++
title = "Broken on purpose"
[vars.RELEASE]
default = "v1"
+++

## Deploy

```bash {name=build hosts=web timeout=soon colour=red}
echo "$RELEASE $UNDECLARED"
```

```bash {name=Build hosts=cache}
ls
```

```ansible {playbook=missing.yml limit=$LIMIT}
```

```http {hosts=db}
GET https://example.com/$VERSION
```

```bash {destructive host=web1 retries=many}
rm -rf /tmp/x
```
"""


def swrun(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("swrun")
    cmd = [str(script)] if script.exists() else [
        sys.executable, "-c", "from swrun.cli import main; main()"]
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_check_reports_every_problem_with_file_line_severity(tmp_path: Path) -> None:
    write(tmp_path, "rb.md", BROKEN)
    write(tmp_path, "inv.ini", INVENTORY)
    proc = swrun("check", "rb.md", "--inventory", "inv.ini", cwd=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout.splitlines() == [
        "rb.md:9: error: timeout=soon: bad duration (use e.g. 45s, 15m, 1h30m)",
        "rb.md:9: error: unknown attribute 'colour'",
        # no warning for $UNDECLARED: a remote step's environment is the host's
        "rb.md:13: error: duplicate step name 'Build' (first used on line 9)",
        "rb.md:13: error: hosts=cache matches no host in inv.ini",
        "rb.md:17: error: limit=$LIMIT: variable LIMIT is not declared in the front matter",
        f"rb.md:17: error: playbook missing.yml does not exist (looked in {tmp_path.resolve()})",
        "rb.md:21: error: variable VERSION is not declared in the front matter",
        "rb.md:24: error: retries=many: expected a whole number >= 0",
        "rb.md:24: warning: destructive step but the runbook has no rollback section",
    ]
    assert proc.stderr.splitlines()[-1] == "1 file(s): 8 error(s), 1 warning(s)"
    assert "Traceback" not in proc.stderr


def test_check_warnings_only_exits_0(tmp_path: Path) -> None:
    write(tmp_path, "warn.md", """\
        # T

        ```bash {destructive}
        ls
        ```

        ```yaml {colour=red}
        a: 1
        ```
    """)
    proc = swrun("check", "warn.md", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [
        "warn.md:3: warning: destructive step but the runbook has no rollback section",
        "warn.md:7: warning: unknown attribute 'colour'",
        "warn.md:7: warning: unknown step kind 'yaml': block is shown as reference material, "
        "not run (add `run` to run it)",
    ]
    assert proc.stderr == "1 file(s): 0 error(s), 3 warning(s)\n"


def test_check_strict_makes_warnings_errors(tmp_path: Path) -> None:
    write(tmp_path, "warn.md", "```bash {colour=red destructive}\nls\n```\n")
    proc = swrun("check", "--strict", "warn.md", cwd=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout.splitlines() == [
        "warn.md:1: error: unknown attribute 'colour'",
        "warn.md:1: error: destructive step but the runbook has no rollback section",
    ]


def test_check_clean_runbook_prints_nothing_on_stdout(tmp_path: Path) -> None:
    write(tmp_path, "ok.md", """\
        # T

        ```bash {destructive}
        rm -rf /tmp/nothing
        ```

        ## Rollback
        <!-- swrun: rollback -->

        ```bash
        echo undo
        ```
    """)
    proc = swrun("check", "ok.md", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "")
    assert proc.stderr == "1 file(s): 0 error(s), 0 warning(s)\n"


def test_check_seeds_say_what_would_fail() -> None:
    """The seeds load without errors; the reading rules (issue 15) warn about what would
    fail or needs a person: placeholders in an `.env` block, a `logs -f` and an
    `ssh host` session (manual steps), two blocks of output-shaped lines (issue 24: shown,
    not run; one `bash -n` rejects too), and three state-changing steps the seeds do not
    mark (SW205: a `kubectl patch`, an `s3 sync --delete`, a rollback)."""
    proc = swrun("check", *sorted(str(p) for p in SEEDS.glob("*.md")))
    assert proc.returncode == 0
    found = [(Path(line.split(":")[0]).name, int(line.split(":")[1]), line.split()[2])
             for line in proc.stdout.splitlines()]
    community = "community-savings-production-guide.md"
    assert found == [
        (community, 55, "SW102"), (community, 57, "SW102"), (community, 59, "SW102"),
        (community, 66, "SW102"), (community, 70, "SW102"), (community, 76, "SW102"),
        (community, 77, "SW102"), (community, 325, "SW205"), (community, 351, "SW104"),
        (community, 361, "SW109"), (community, 380, "SW109"),
        ("smartwallet-deployment-guide.md", 252, "SW104"),
        ("smartwallet-deployment-guide.md", 264, "SW205"),
        ("smartwallet-deployment-guide.md", 569, "SW205")]
    assert proc.stderr == "2 file(s): 0 error(s), 14 warning(s)\n"


def test_check_many_files_and_bad_ones_keep_going(tmp_path: Path) -> None:
    write(tmp_path, "warn.md", "```bash {destructive}\nls\n```\n")
    (tmp_path / "latin1.md").write_bytes(b"ok\n\ncaf\xe9\n")
    proc = swrun("check", "missing.md", "latin1.md", "warn.md", cwd=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout.splitlines() == [
        "missing.md: error: no such file",
        "latin1.md:3: error: not UTF-8 text",
        "warn.md:1: warning: destructive step but the runbook has no rollback section",
    ]
    assert proc.stderr == "3 file(s): 2 error(s), 1 warning(s)\n"


def test_inventory_from_front_matter(tmp_path: Path) -> None:
    write(tmp_path, "hosts.ini", INVENTORY)
    write(tmp_path, "rb.md", """\
        +++
        inventory = "hosts.ini"
        +++

        ```bash {hosts=web}
        uptime
        ```

        ```bash {hosts=db:web}
        uptime
        ```

        ```bash {host=web9}
        uptime
        ```
    """)
    proc = swrun("check", str(tmp_path / "rb.md"))  # relative to the runbook, not the cwd
    assert proc.returncode == 3
    assert proc.stdout.splitlines() == [
        f"{tmp_path / 'rb.md'}:13: error: host=web9 matches no host in hosts.ini"]


def test_section_hosts_are_checked_against_the_inventory(tmp_path: Path) -> None:
    write(tmp_path, "inv.ini", INVENTORY)
    write(tmp_path, "rb.md", """\
        ## Cache
        <!-- swrun: hosts=cache -->

        ```bash
        redis-cli ping
        ```
    """)
    proc = swrun("check", "-i", "inv.ini", "rb.md", cwd=tmp_path)
    assert proc.stdout.splitlines() == ["rb.md:4: error: hosts=cache matches no host in inv.ini"]


def test_missing_inventory_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "rb.md", '+++\ninventory = "nope.ini"\n+++\n\n```bash {hosts=web}\nls\n```\n')
    proc = swrun("check", "rb.md", cwd=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout.splitlines() == [
        f"rb.md:1: error: {tmp_path.resolve() / 'nope.ini'}: no such inventory"]


def test_the_lab_inventory_before_the_lab_ran_is_a_warning_saying_how_to_get_it(
        tmp_path: Path) -> None:
    """A clean checkout: the shipped runbooks name ../inventories/lab.yml, which `swrun lab
    up` writes (it is not committed); check passes and says how to get it."""
    root = Path(__file__).resolve().parent.parent
    for name in ("runbooks", "playbooks"):
        shutil.copytree(root / name, tmp_path / name)
    (tmp_path / "inventories").mkdir()
    proc = swrun("check", *sorted(p.name for p in (tmp_path / "runbooks").glob("*.md")),
                 cwd=tmp_path / "runbooks")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if "lab.yml" in ln]
    assert lines and all(
        ln.endswith(f": warning: {tmp_path.resolve() / 'inventories' / 'lab.yml'}: no such "
                    "inventory yet, so its hosts are not checked; the local lab writes it: "
                    f"run `swrun lab up` in {tmp_path.resolve()} (README.md: A five-minute "
                    "tour)") for ln in lines), proc.stdout


def test_no_inventory_means_hosts_are_not_checked(tmp_path: Path) -> None:
    write(tmp_path, "rb.md", "```bash {hosts=anything}\nls\n```\n")
    assert swrun("check", "rb.md", cwd=tmp_path).returncode == 0


def test_existing_playbook_and_declared_variables_pass(tmp_path: Path) -> None:
    (tmp_path / "site.yml").write_text("- hosts: all\n  tasks: []\n")
    write(tmp_path, "rb.md", """\
        +++
        [vars.VERSION]
        default = "1"
        [vars.LIMIT]
        default = "web"
        +++

        ```ansible {playbook=site.yml limit=$LIMIT}
        ```

        ```http
        GET https://example.com/${VERSION}
        ```

        ```bash
        export NAME=x
        for HOST in a b; do echo "$NAME $HOST $HOME $VERSION"; done
        ```
    """)
    proc = swrun("check", "rb.md", cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, ""), proc.stdout


def test_on_failure_rollback_without_rollback_section_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "rb.md", "```bash {on_failure=rollback}\nls\n```\n")
    proc = swrun("check", "rb.md", cwd=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout == ("rb.md:1: error: on_failure=rollback but the runbook has no rollback "
                           "section (mark one with <!-- swrun: rollback -->)\n")


def test_ansible_step_without_playbook(tmp_path: Path) -> None:
    write(tmp_path, "rb.md", "```ansible\n```\n")
    proc = swrun("check", "rb.md", cwd=tmp_path)
    assert proc.stdout == "rb.md:1: error: ansible step needs playbook=PATH\n"


@pytest.mark.parametrize("content", [b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)),
                                     b"\xff\xfe#\x00 \x00T\x00"])
def test_check_binary_file_is_one_error_line(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "bin.md").write_bytes(content)
    proc = swrun("check", "bin.md", cwd=tmp_path)
    assert proc.returncode == 3
    assert proc.stdout.count("\n") == 1 and proc.stdout.startswith("bin.md:1: error: ")
    assert "Traceback" not in proc.stderr


def test_check_without_files_is_a_usage_error() -> None:
    assert swrun("check").returncode == 2


def test_execute_and_plan_refuse_what_check_reports_before_anything_runs(
        tmp_path: Path) -> None:
    write(tmp_path, "rb.md", """
        # Late typo

        ```bash {name=first}
        touch side-effect
        ```

        ```pm2 {name=typo}
        retsart api
        ```

        ```aws {name=undeclared}
        s3 put site/index.html s3://bucket/$UNDECLARED
        ```
        """)
    checked = swrun("check", "rb.md", cwd=tmp_path)
    assert checked.returncode == 3
    for cmd in (["plan", "rb.md"], ["execute", "rb.md", "--yes", "--keep-going"]):
        proc = swrun(*cmd, cwd=tmp_path)
        assert proc.returncode == 3, proc.stderr
        first = checked.stdout.splitlines()[0]
        assert proc.stderr.startswith(f"swrun: {first}") and "(and 1 more; run `swrun check" \
            in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "side-effect").exists()
    assert not (tmp_path / "logs").exists()


def test_mongo_json_operators_are_not_variables(tmp_path: Path) -> None:
    write(tmp_path, "rb.md", """\
        +++
        [vars.MONGO_URI]
        secret = true
        default = "mongodb://127.0.0.1:1/"
        +++
        # M

        ```mongo {name=q uri=$MONGO_URI}
        count app.tx {"date": {"$gte": {"$date": "2026-01-01T00:00:00Z"}}} expect >= 1
        count app.users {"_id": {"$oid": "6b0f7308091f1b2d873c686e"}, "who": "$NOPE"} expect == 1
        ```
        """)
    proc = swrun("check", "rb.md", cwd=tmp_path)
    assert proc.stdout.splitlines() == [
        "rb.md:10: error: variable NOPE is not declared in the front matter"]


def test_host_matching_several_hosts_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "hosts.ini").write_text("[app]\nweb1\nweb2\n")
    write(tmp_path, "rb.md", """\
        +++
        inventory = "hosts.ini"
        +++
        # H

        ```bash {host=app}
        uptime
        ```
        """)
    proc = swrun("check", "rb.md", cwd=tmp_path)
    assert proc.stdout.splitlines() == [
        "rb.md:6: error: host=app matches 2 hosts in hosts.ini; use hosts=app to run on each"]
