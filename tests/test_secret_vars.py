"""Variables with `from = "aws-secretsmanager:ID"`: fetched at run start, secret everywhere."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from swrun.parser import load_runbook
from swrun.variables import is_secret

from conftest import swrun_cmd
from helpers import write_runbook

pytest_plugins = ["servers"]

BOOK = """
    +++
    [vars.AWS_ENDPOINT_URL]
    default = "{url}"

    [vars.DB_CREDS]
    from = "aws-secretsmanager:{secret_id}"
    +++
    # S

    ```bash {{name=use}}
    test -n "$DB_CREDS"
    echo "creds: $DB_CREDS"
    ```
    """


def test_secret_is_fetched_masked_and_never_logged(tmp_path: Path, aws) -> None:
    aws.client("secretsmanager").create_secret(Name="lab/db", SecretString="pa55-w0rd-xyz")
    path = write_runbook(tmp_path, BOOK.format(url=aws.url, secret_id="lab/db"), "rb.md")
    assert is_secret(load_runbook(path).variables["DB_CREDS"])
    res = subprocess.run([*swrun_cmd(), "execute", "rb.md", "--yes"], cwd=tmp_path,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                         env=os.environ.copy())
    assert res.returncode == 0, res.stderr
    assert "creds: ****" in res.stdout
    every = res.stdout + res.stderr + "".join(
        p.read_text() for p in (tmp_path / "logs").rglob("*") if p.is_file())
    assert "pa55-w0rd-xyz" not in every


def test_a_missing_secret_stops_before_anything_runs(tmp_path: Path, aws) -> None:
    path = write_runbook(tmp_path, BOOK.format(url=aws.url, secret_id="no/such"), "rb.md")
    res = subprocess.run([*swrun_cmd(), "execute", str(path), "--yes"], cwd=tmp_path,
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60,
                         env=os.environ.copy())
    assert res.returncode == 6, res.stderr
    assert res.stderr.startswith("swrun: DB_CREDS: ") and "no/such" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "logs").exists()


def test_check_accepts_the_source_and_rejects_others(tmp_path: Path) -> None:
    path = write_runbook(tmp_path, """
        +++
        [vars.A]
        from = "aws-secretsmanager:x"
        [vars.B]
        from = "vault:x"
        +++
        # C
        """, "rb.md")
    res = subprocess.run([*swrun_cmd(), "check", str(path)], capture_output=True, text=True)
    assert res.returncode == 3
    assert "vault:x" in res.stdout and "aws-secretsmanager:x" not in res.stdout


def test_a_secret_by_use_default_is_not_shown_in_its_pattern_error(tmp_path: Path) -> None:
    """Whether a variable is secret by use (uri=$DBC) is known only once the steps are read:
    the front-matter check printed the default (a connection string with its password)."""
    import sys

    (tmp_path / "by.md").write_text(
        '+++\n[vars.DBC]\ndefault = "mongodb://u:hunter2pass@db/x"\npattern = "^mongodb\\\\+srv://.*"\n'
        '+++\n# By use\n\n```mongo {uri=$DBC}\nping\n```\n')
    res = subprocess.run([sys.executable, "-m", "swrun", "check", "by.md"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0
    assert "the default is invalid" in res.stdout + res.stderr
    assert "hunter2pass" not in res.stdout + res.stderr
