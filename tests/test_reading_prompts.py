"""Reading existing runbooks, round 2 (issue 24): prompts of every common shape, sessions,
blocks bash rejects, fences closed on a command line, and program output in shell fences.
None of them runs on the operator's machine; a real headless run shows it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from swrun.checks import check_runbook
from swrun.cli import main
from swrun.errors import Severity
from swrun.model import StepKind
from swrun.parser import parse_text
from swrun.plan import kind_of


def rb(text: str):  # type: ignore[no-untyped-def]
    return parse_text(text, "t.md").runbook


def findings(text: str) -> list[tuple[str, int, str]]:
    result = parse_text(text, "t.md")
    return [(d.rule, d.line, d.severity.value) for d in check_runbook(result, inventory=False)
            if getattr(d, "rule", "")]


# -- prompt shapes ---------------------------------------------------------------------------
@pytest.mark.parametrize(("block", "body"), [
    ("    $ oc get pods -n openshift-monitoring\n    NAME  READY\n    $ oc get nodes\n",
     "oc get pods -n openshift-monitoring\noc get nodes\n"),
    ("deploy@bastion:~/infra$ terraform plan\nNo changes.\n", "terraform plan\n"),
    ("$ cat <<EOF > /tmp/motd\n> maintenance at 22:00\n> EOF\n$ wc -l /tmp/motd\n",
     "cat <<EOF > /tmp/motd\nmaintenance at 22:00\nEOF\nwc -l /tmp/motd\n"),
])
def test_shell_prompts_of_every_shape_are_stripped(block: str, body: str) -> None:
    (step,) = rb(f"```bash\n{block}```\n").steps
    assert step.kind is StepKind.SHELL and step.body == body


def test_root_prompts_among_dollar_prompts_are_commands() -> None:
    (step,) = rb("```bash\n$ sudo systemctl stop patroni\n# patronictl list\n"
                 "# Check the leader first.\n```\n").steps
    assert step.kind is StepKind.SHELL
    assert step.body == "sudo systemctl stop patroni\npatronictl list\n"


def test_a_hash_comment_in_a_plain_block_stays_a_comment() -> None:
    (step,) = rb("```bash\n# Restart the service first.\nsystemctl restart nginx\n"
                 "# kubectl get pods\n```\n").steps
    assert step.body.startswith("# Restart") and "# kubectl get pods" in step.body
    (prose,) = rb("```bash\n# find the pod that failed\n```\n").steps
    assert prose.body == "# find the pod that failed\n" and not prose.prompts


@pytest.mark.parametrize(("block", "into", "typed"), [
    ("[root@db1 ~]# systemctl status patroni\n● patroni.service\n"
     "# gitlab-ctl restart consul\n", "a root shell",
     "systemctl status patroni\ngitlab-ctl restart consul\n"),
    ("# gitlab-ctl stop consul\n# rm -rf /var/opt/gitlab/consul/data\n"
     "# gitlab-ctl start consul\n", "a root shell",
     "gitlab-ctl stop consul\nrm -rf /var/opt/gitlab/consul/data\ngitlab-ctl start consul\n"),
    ("sh-4.4$ cat /etc/os-release\nNAME=\"Red Hat\"\nsh-4.4$ df -h /data\n", "a shell",
     "cat /etc/os-release\ndf -h /data\n"),
    ("bash-5.1# rm -rf /var/lib/app/cache\n", "a shell", "rm -rf /var/lib/app/cache\n"),
    ("template1=# SELECT pid, state FROM pg_stat_activity;\n pid | state\n-----+------\n"
     "template1=# \\q\n", "psql", "SELECT pid, state FROM pg_stat_activity;\n\\q\n"),
    ("pgbouncer=# SHOW POOLS;\n", "psql", "SHOW POOLS;\n"),
    ("gitlabhq_production=> SELECT count(*)\ngitlabhq_production-> FROM users;\n", "psql",
     "SELECT count(*)\nFROM users;\n"),
    ("mysql> SHOW PROCESSLIST;\n+----+------+\n| Id | User |\n", "mysql", "SHOW PROCESSLIST;\n"),
    ("127.0.0.1:6379> CONFIG SET maxmemory 2gb\nOK\n", "redis-cli",
     "CONFIG SET maxmemory 2gb\n"),
    ("irb(main):001:0> Feature.enable(:ci_jobs)\n=> true\n", "a Ruby console",
     "Feature.enable(:ci_jobs)\n"),
    ("[1] pry(main)> User.find(1).destroy\n", "a Ruby console", "User.find(1).destroy\n"),
    ("rs0:PRIMARY> db.jobs.deleteMany({})\n", "the mongo shell", "db.jobs.deleteMany({})\n"),
])
def test_a_line_at_another_programs_prompt_is_manual(block: str, into: str, typed: str) -> None:
    (step,) = rb(f"```bash\n{block}```\n").steps
    assert step.kind is StepKind.CHECK and step.manual.startswith(f"typed in {into}")
    assert step.body == typed


def test_gt_gpg_is_a_prompt_not_a_redirect() -> None:
    (step,) = rb("```bash\n> gpg --card-edit\ngpg/card> admin\ngpg/card> passwd\n```\n").steps
    assert step.kind is StepKind.CHECK and step.manual == "opens gpg's prompt"
    assert step.body == "gpg --card-edit\nadmin\npasswd\n"


def test_redis_bare_prompt_after_redis_cli() -> None:
    book = rb("## Redis\n\n```bash\nredis-cli -h 127.0.0.1 -p 6379\n```\n\n"
              "```bash\n> info replication\n# Replication\nrole:master\n```\n")
    opener, typed = book.steps
    assert opener.manual == "opens a database shell"
    assert typed.manual.startswith("typed in the session step 1 opened")
    assert typed.body == "redis-cli -h 127.0.0.1 -p 6379\ninfo replication\n"


def test_sw103_is_one_info_finding_per_block(tmp_path: Path) -> None:
    text = "```bash\n$ kubectl get pods\nNAME\n$ kubectl get nodes\n$ kubectl top nodes\n```\n"
    assert findings(text) == [("SW103", 2, "info")]
    book = tmp_path / "rb.md"
    book.write_text(text)
    out = CliRunner().invoke(main, ["check", "--strict", str(book)])
    assert out.exit_code == 0, out.output
    assert f"{book}:2: info: SW103 3 prompts in a shell block" in out.stdout
    assert "0 error(s), 0 warning(s), 1 info" in out.stderr
    data = json.loads(CliRunner().invoke(main, ["check", "--format", "json",
                                                str(book)]).stdout)
    assert (data["warnings"], data["infos"]) == (0, 1)
    assert CliRunner().invoke(main, ["plan", "--strict", str(book)]).exit_code == 0


# -- sessions --------------------------------------------------------------------------------
def test_lines_after_a_session_opener_are_typed_into_it_with_its_command_first() -> None:
    book = rb("## Inspect the pod\n\n```bash\noc rsh prometheus-k8s-0\n```\n\n"
              "```bash\nls -la /prometheus/wal\ndu -sh /prometheus\n```\n\n"
              "```bash\noc get pods -n openshift-monitoring\n```\n\n"
              "```bash\ndf -h\n```\n")
    opener, inside, local, after = book.steps
    assert opener.manual == "opens an interactive session"
    assert inside.kind is StepKind.CHECK
    assert inside.manual == "typed in the session step 1 opened: oc rsh prometheus-k8s-0"
    assert inside.body == "oc rsh prometheus-k8s-0\nls -la /prometheus/wal\ndu -sh /prometheus\n"
    assert inside.lines == (4, 8, 9)
    # `oc get` is run from the operator's machine: the session ended there
    assert local.kind is StepKind.SHELL and after.kind is StepKind.SHELL
    assert ("SW106", 7, "warning") in findings(
        "## I\n\n```bash\noc rsh prometheus-k8s-0\n```\n\n```bash\nls /prometheus\n```\n")


@pytest.mark.parametrize(("opener", "inside", "local"), [
    ("ssh deploy@web1", "sudo systemctl restart nginx", "curl -fsS https://status.example.com/"),
    ("kubectl exec -it api-0 -- bash", "curl -s localhost:8080/metrics", "kubectl get pods"),
    ("psql -h db.internal -U app app", "SELECT count(*) FROM jobs;", "pg_dump --help"),
    ("sudo gitlab-rails console", "Feature.enable(:x)", "sudo gitlab-ctl status"),
    ("mysql -u root", "SHOW PROCESSLIST;", "systemctl status mysql"),
    ("kubectl exec -it pg-0 -- psql -U postgres", "VACUUM ANALYZE jobs;", "kubectl get pods"),
])
def test_session_ends_at_a_plainly_local_command(opener: str, inside: str, local: str) -> None:
    book = rb(f"## S\n\n```bash\n{opener}\n```\n\n```bash\n{inside}\n```\n\n"
              f"```bash\n{local}\n```\n")
    assert [kind_of(s) for s in book.steps] == ["manual", "manual", "shell"], \
        [s.manual for s in book.steps]
    assert book.steps[1].body.startswith(opener + "\n")


def test_session_ends_at_exit_and_at_the_next_heading() -> None:
    book = rb("## A\n\n```bash\n$ oc debug node/worker-1\nsh-4.4# chroot /host\n"
              "sh-4.4# crictl ps\nsh-4.4# exit\nsh-4.4# exit\n```\n\n```bash\nuptime\n```\n\n"
              "## B\n\n```bash\nssh web1\n```\n\n## C\n\n```bash\nuptime\n```\n")
    assert [kind_of(s) for s in book.steps] == ["manual", "shell", "manual", "shell"]


def test_a_session_on_another_host_keeps_its_ambiguous_commands() -> None:
    """`sudo systemctl …` after `ssh web1` could be either: it stays in the session."""
    book = rb("## S\n\n```bash\nssh web1\n```\n\n```bash\ncd /srv/app && git pull\n```\n")
    assert book.steps[1].manual.startswith("typed in the session")


# -- known failures --------------------------------------------------------------------------
def test_promql_in_a_sh_fence_is_reference_with_a_fence_label_hint() -> None:
    text = ("## Check\n\n```sh\nsum by (instance) (rate(http_requests_total{code=~\"5..\"}"
            "[5m])) > 0.1\n```\n\n```bash\nSELECT * FROM pg_locks WHERE NOT granted;\n```\n\n"
            "```bash\necho ok\n```\n")
    book = rb(text)
    assert [s.kind for s in book.steps] == [StepKind.REFERENCE, StepKind.REFERENCE,
                                            StepKind.SHELL]
    assert book.steps[2].number == 1
    result = parse_text(text, "t.md")
    fixes = {(d.line, d.fix) for d in check_runbook(result, inventory=False)
             if getattr(d, "rule", "") == "SW101"}
    assert fixes == {(3, "label the fence ```promql"), (7, "label the fence ```sql")}


def test_other_known_failure_is_a_manual_step_unless_marked_run() -> None:
    (step,) = rb("```bash\ntouch ran\nif [ -f ran ]; then\n  echo yes\n```\n").steps
    assert step.kind is StepKind.CHECK and step.manual.startswith("bash -n rejects it (line 4")
    found = parse_text("```bash\ntouch ran\nif [ -f ran ]; then\n```\n", "t.md")
    sw101 = [d for d in check_runbook(found, inventory=False) if getattr(d, "rule", "") == "SW101"]
    assert len(sw101) == 1 and "manual step" in sw101[0].fix
    (forced,) = rb("```bash {run}\ntouch ran\nif true; then\n```\n").steps
    assert forced.kind is StepKind.SHELL


def test_reading_asks_one_bash_for_all_blocks_and_none_without_shell(tmp_path: Path) -> None:
    shim = tmp_path / "bin"
    shim.mkdir()
    starts = tmp_path / "starts"
    real = subprocess.run(["sh", "-c", "command -v bash"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (shim / "bash").write_text(f'#!/bin/sh\necho start >> {starts}\nexec {real} "$@"\n')
    (shim / "bash").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    book = tmp_path / "rb.md"
    book.write_text("# Many\n\n" + "".join(f'```bash\necho "step {i}"\n```\n\n' for i in range(30))
                    + "```bash\nrate(x[5m]) > 1\n```\n")
    for command in ("plan", "check"):
        starts.write_text("")
        proc = subprocess.run([sys.executable, "-m", "swrun", command, str(book)], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        assert len(starts.read_text().splitlines()) == 1, command
    book.write_text("# None\n\n```yaml\na: 1\n```\n\n- [ ] a check\n")
    starts.write_text("")
    subprocess.run([sys.executable, "-m", "swrun", "plan", str(book)], env=env,
                   capture_output=True, timeout=120, check=True)
    assert starts.read_text() == ""


def test_a_fence_closed_on_a_command_line_is_an_error_and_swallows_nothing() -> None:
    text = ("# T\n\n## Check\n\n```bash\nkubectl get pods -n web```\n\nIf one is not ready:\n\n"
            "## Restart\n\n```bash\nkubectl rollout restart deploy/web -n web\n```\n")
    result = parse_text(text, "t.md")
    assert [(d.severity, d.line) for d in result.diagnostics] == [(Severity.ERROR, 6)]
    assert "put ``` on a line of its own" in result.diagnostics[0].message
    check, restart = result.runbook.steps
    assert check.body == "kubectl get pods -n web\n" and check.section == ("Check",)
    assert restart.section == ("Restart",) and restart.span.line == 12


# -- output ----------------------------------------------------------------------------------
@pytest.mark.parametrize("block", [
    "* Rebuilt URL to: https://api.example.com/\n*   Trying 203.0.113.7:443...\n"
    "> GET /healthz HTTP/1.1\n> Host: api.example.com\n< HTTP/1.1 503 Service Unavailable\n",
    "notAfter=Aug  6 12:00:00 2027 GMT\n",
    "subject=CN = api.example.com\n",
    "NAME                     READY   STATUS             RESTARTS   AGE\n"
    "alertmanager-main-0      1/2     CrashLoopBackOff   37         2d\n",
    "+----+------+\n| Id | User |\n+----+------+\n",
    "{\n  \"status\": \"degraded\",\n  \"checks\": []\n}\n",
    "2026-12-07T19:02:11Z ERROR pool exhausted\n",
    "Mon Dec  7 19:13:45 UTC 2026\n",
    "net.ipv4.ip_forward = 1\n",
    "Name:         api-0\nNamespace:    web\nStatus:       Running\n",
])
def test_output_alone_is_shown_not_run(block: str) -> None:
    (step,) = rb(f"```bash\n{block}```\n").steps
    assert step.kind is StepKind.REFERENCE, step
    assert [r for r, _, _ in findings(f"```bash\n{block}```\n")] == ["SW109"]


def test_commands_with_their_output_are_a_manual_transcript() -> None:
    (step,) = rb("```sh\ncurl -v https://api.example.com/healthz\n* Connected to "
                 "api.example.com\n< HTTP/1.1 200 OK\nopenssl x509 -noout -enddate -in c.pem\n"
                 "notAfter=Aug  6 12:00:00 2027 GMT\n```\n").steps
    assert step.kind is StepKind.CHECK and step.manual.startswith("a transcript: line 3")
    assert step.body == ("curl -v https://api.example.com/healthz\n"
                         "openssl x509 -noout -enddate -in c.pem\n")
    assert step.lines == (2, 5)


def test_real_scripts_are_not_output() -> None:
    book = rb("```bash\nNAMESPACE=web\nexport RELEASE=v2\nDEBUG=1 ./deploy.sh \"$RELEASE\"\n"
              "cat <<EOF | kubectl apply -f -\napiVersion: v1\nkind: ConfigMap\nEOF\n"
              "kubectl patch deploy/web -p '{\n  \"spec\": {\"replicas\": 3}\n}'\n"
              "if [ -n \"$NAMESPACE\" ]; then\n  echo \"$NAMESPACE\"\nfi\n"
              "report() {\n  date -u +%FT%TZ\n}\nreport > /tmp/last-run\n```\n")
    assert [s.kind for s in book.steps] == [StepKind.SHELL]


# -- none of it runs: a real headless run ----------------------------------------------------
@pytest.mark.parametrize(("block", "made"), [
    ("```bash\n> Host: api.example.com\n< HTTP/1.1 200 OK\n```\n", "Host:"),
    ("```bash\ncurl -sv https://api.example.com\n> Host: api.example.com\n```\n", "Host:"),
    ("```bash\n> gpg --card-edit\n```\n", "gpg"),
    ("```bash\nmysql> SHOW DATABASES;\n```\n", "SHOW"),
    ("```bash\n127.0.0.1:6379> FLUSHALL\n```\n", "FLUSHALL"),
    ("```bash\napp=> SELECT 1;\n```\n", "SELECT"),
    ("```bash\nssh web1\n```\n\n```bash\ntouch on-web1\n```\n", "on-web1"),
    ("```bash\n# touch as-root\n```\n", "as-root"),
    ("```bash\ntouch before-the-error\nif true; then\n```\n", "before-the-error"),
])
def test_headless_never_runs_them(tmp_path: Path, block: str, made: str) -> None:
    """Each block, run by bash, makes the file `made` (a redirect to it, or a command before
    a syntax error): a real headless run leaves it unmade, and stops only where a person is
    needed."""
    book = tmp_path / "rb.md"
    book.write_text(f"# Drill\n\n## Steps\n\n```bash\ntouch first\n```\n\n{block}\n"
                    "```bash\ntouch last\n```\n")
    out = CliRunner().invoke(main, ["execute", str(book), "--yes", "--log",
                                    str(tmp_path / "run.log")])
    assert (tmp_path / "first").exists(), out.output
    assert not (tmp_path / made).exists(), out.output
    assert out.exit_code in (0, 4), out.output


def test_a_session_command_in_a_message_has_no_terminal_controls() -> None:
    book = rb("## S\n\n```bash\nssh web1\x1b]0;pwned\x07\n```\n\n```bash\nuptime\n```\n")
    manual = book.steps[1].manual
    assert manual.startswith("typed in the session step 1 opened: ssh web1")
    assert "\x1b" not in manual and "\x07" not in manual
