"""Everything the prose asks the operator to do is a step (docs/runbook-format.md, "Reading
existing runbooks", "Commands in the prose"): inline commands with a cue, another host's
commands, console blocks, another repository's git, editor tasks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_regex_budget import _call, within_budget

from swrun.checks import check_runbook
from swrun.model import StepKind
from swrun.parser import parse_text
from swrun.rules.blocklead import also_interactive, block_reason
from swrun.rules.inline import SAYS

from conftest import swrun_cmd


def rb(text: str):  # type: ignore[no-untyped-def]
    return parse_text(text, "t.md").runbook


def shape(text: str) -> list[tuple[str, str, str]]:
    """(kind or `manual`, title, body) of each step."""
    return [("manual" if s.manual else s.kind.value, s.title, s.body) for s in rb(text).steps]


BULLETS = """# Upgrade

```bash
echo first
```

- Stop the database before the package upgrade. Command: `systemctl stop patroni`
- Then:
  - on the replica, nothing to do;
  - type `sudo chef-client --once` and wait for it to finish.

Take a backup first: run `pg_dumpall -f /backup/all.sql`, then `sync`
and `ls -l /backup`.

```bash
echo second
```
"""


def test_cued_commands_in_bullets_nested_bullets_and_prose_are_manual_steps() -> None:
    book = rb(BULLETS)
    got = [(s.kind, s.manual, s.body, s.span.line) for s in book.steps]
    assert got == [
        (StepKind.SHELL, "", "echo first\n", 3),
        (StepKind.CHECK, "in the text", "systemctl stop patroni\n", 7),
        (StepKind.CHECK, "in the text", "sudo chef-client --once\n", 10),
        # one step per paragraph: `sync` is one word, `ls -l` follows `, then` / `and`
        (StepKind.CHECK, "in the text", "pg_dumpall -f /backup/all.sql\nls -l /backup\n", 12),
        (StepKind.SHELL, "", "echo second\n", 15),
    ]
    assert [s.number for s in book.steps] == [1, 2, 3, 4, 5]
    assert book.steps[1].title == "Stop the database before the package upgrade"
    assert book.steps[3].title == "Take a backup first"
    assert book.steps[3].lines == (12, 13)


@pytest.mark.parametrize("text, body", [
    ("Restart the API with `systemctl restart api`.", "systemctl restart api\n"),
    ("Use `kubectl rollout restart deploy/api` to restart it.",
     "kubectl rollout restart deploy/api\n"),
    ("If it hangs, delete the pod with `kubectl delete pod api-0`.",
     "kubectl delete pod api-0\n"),
    ("Execute `make migrate` and `make seed`.", "make migrate\nmake seed\n"),
    ("- Check pod events via `kubectl describe pod api-0`.", "kubectl describe pod api-0\n"),
    ("Try running `dig +short api.example.com` from the bastion.",
     "dig +short api.example.com\n"),
    ("You can run `npm config ls -l` to see them.", "npm config ls -l\n"),
    ("Don't forget to run `sudo gitlab-ctl reconfigure` afterwards.",
     "sudo gitlab-ctl reconfigure\n"),
    ("To resize the volume run `make resize SIZE=20Gi`.", "make resize SIZE=20Gi\n"),
])
def test_cue_words(text: str, body: str) -> None:
    ((kind, _, got),) = shape(text + "\n")
    assert (kind, got) == ("manual", body)


@pytest.mark.parametrize("text", [
    "The `kubectl get pods` output lists every pod.",
    "`systemctl status nginx` shows whether it runs.",
    "Do not run `rm -rf /var/lib/postgresql` here.",
    "Never use `kubectl delete ns prod` to clean up.",
    "Debugging tools may not work, e.g. `kubectl exec` and `kubectl logs`.",
    "The nightly job runs `pg_dump app` at 02:00.",
    "See the `kubectl` binary and the `sudo` docs.",
    "We deploy the backend (there under PM2: `pm2 stop api`, `pm2 save`), then verify.",
    "After a dry run `make plan` prints the diff.",
    "When you run `npm install foo`, the package is loaded into the folder.",
    "It allows the trusted publisher to run `npm publish` for this package.",
    "Commands meant to run a script, such as `npm start`, are not affected.",
    "Using `npm diff` along with versions is a shorthand.",
    "Show the description in `npm search`.",
    "You should not need to run `npm rebuild` by hand.",
    "If you created the file by running `npm install`, keep it.",
    "The verbs run in order under `bash -e`.",
    "A key of another type (`type = [false]`) is refused.",
    "- New command: `pm2 deepUpdate now`",
    "- fix: `pm2 start app.js -i 1` starts the app in cluster mode",
    "- List processes with user right `service pm2-init.sh status`",
])
def test_mentions_without_a_cue_are_prose(text: str) -> None:
    assert shape(text + "\n") == []


def test_not_in_optional_sections_task_items_or_what_the_next_block_holds() -> None:
    text = ("## Deploy\n\nRun `make deploy ENV=prod` as follows:\n\n```bash\nmake deploy "
            "ENV=prod\n```\n\n- [ ] Run `make smoke ENV=prod`\n\n"
            "## Troubleshooting\n\nRun `kubectl get events -A` to see why.\n")
    assert [(k, b) for k, _, b in shape(text)] == [
        ("shell", "make deploy ENV=prod\n"), ("check", "Run make smoke ENV=prod")]


def test_numbered_items_keep_their_rule_and_are_not_read_twice() -> None:
    book = rb("1. Run `kubectl get pods -n web` and look.\n2. Tell the team.\n")
    assert [(s.manual, s.body) for s in book.steps] == [("list item", "kubectl get pods -n web\n")]


def test_placeholders_in_an_inline_command_are_asked_for() -> None:
    (step,) = rb("Run `kubectl -n <namespace> delete pod <pod>` on a stuck pod.\n").steps
    assert step.body == 'kubectl -n "${NAMESPACE}" delete pod "${POD}"\n'
    assert [p.name for p in step.placeholders] == ["NAMESPACE", "POD"]


# -- another host ----------------------------------------------------------------------------
def test_log_in_to_a_host_and_run_inline_is_manual_on_that_host() -> None:
    (step,) = rb("Log in to the worker and run `sudo gitlab-ctl restart gitlab-pages`.\n").steps
    assert step.kind is StepKind.CHECK and step.manual == "in the text, runs on the worker"
    assert step.body == "sudo gitlab-ctl restart gitlab-pages\n"
    assert step.title == "Log in to the worker and run sudo gitlab-ctl restart gitlab-pages"
    # a command that reaches the cluster from here stays plain
    (step,) = rb("On the management cluster, run `oc get hostedcluster -A`.\n").steps
    assert step.manual == "in the text"


@pytest.mark.parametrize("lead", [
    "Log in to the worker and run:", "On each Gitaly node, run the following:",
    "SSH into `gitaly-01.internal` and restart the service:", "Then, on the primary, run:",
    "Run this on the affected node:", "Log in to the worker. Then restart the service:",
])
def test_a_block_the_text_places_on_another_host_is_manual(lead: str) -> None:
    (step,) = rb(f"{lead}\n\n```bash\nsudo gitlab-ctl restart gitaly\n```\n").steps
    assert step.kind is StepKind.CHECK and step.manual.startswith("runs on ")
    assert step.manual.endswith(SAYS)


@pytest.mark.parametrize("text", [
    "Log in to the worker and run:\n\n```bash {hosts=worker}\nuptime\n```\n",
    "Log in to the bastion and run:\n\n```bash\nssh web-01 'sudo systemctl restart nginx'\n```\n",
    "On the node, run:\n\n```bash\noc adm drain node-1 --ignore-daemonsets\n```\n",
    "This depends on the node count.\n\n```bash\nuptime\n```\n",
    "On a machine with 2 GiB of memory, set it to 1536:\n\n```bash\nnode --max-old=1 a.js\n```\n",
    "Log in to the worker and run:\n\n```bash {run}\nuptime\n```\n",
])
def test_blocks_that_reach_the_host_themselves_stay_runnable(text: str) -> None:
    (step,) = rb(text).steps
    assert step.kind is StepKind.SHELL and not step.manual


def test_ssh_with_options_after_the_host_is_a_session_or_a_tunnel() -> None:
    assert (also_interactive("ssh worker -D 5000\n") or None) is not None
    tunnel = also_interactive("ssh -N -L 5432:db:5432 bastion\n")
    assert tunnel is not None and tunnel.what.startswith("never ends")
    assert also_interactive("ssh worker -p 2222 uptime\n") is None
    assert also_interactive("ssh -f -N -L 1:a:1 bastion\n") is None
    (step,) = rb("```bash\nssh worker -D 5000\n```\n").steps
    assert step.kind is StepKind.CHECK and step.manual == "opens a session on another host"


def test_a_real_headless_run_stops_before_another_hosts_command(tmp_path: Path) -> None:
    (tmp_path / "rb.md").write_text(
        "# Pages\n\n```bash\ntouch before\n```\n\n"
        "Log in to the worker and run `touch inline-ran`, then check the pages.\n\n"
        "Log in to the worker and run:\n\n```bash\ntouch block-ran\n```\n\n"
        "```bash\ntouch after\n```\n")
    env = {**os.environ, "SWRUN_REGISTRY": str(tmp_path / "reg")}
    out = subprocess.run([*swrun_cmd(), "execute", "rb.md", "--yes", "--log", "run.toml"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
                         check=False)
    assert out.returncode == 4, out.stderr
    assert "step 2 is a command for a person (in the text, runs on the worker)" in out.stderr
    assert "{run}" not in out.stderr  # no block to mark
    assert (tmp_path / "before").exists()
    for name in ("inline-ran", "block-ran", "after"):
        assert not (tmp_path / name).exists(), name


# -- console blocks, another repository, editors ---------------------------------------------
def test_a_ruby_console_block_is_a_manual_step_with_its_session() -> None:
    text = ("In the Rails console (`sudo gitlab-rails console`), run:\n\n```ruby\n"
            "Project.find(42).update!(archived: true)\n```\n")
    (step,) = rb(text).steps
    assert step.kind is StepKind.CHECK
    assert step.manual == f"to type in `sudo gitlab-rails console` {SAYS}"
    assert step.body == "Project.find(42).update!(archived: true)\n"
    sql = rb("Connect with psql and run:\n\n```sql\nDELETE FROM jobs WHERE id = 7;\n```\n")
    assert sql.steps[0].manual == f"to type in a psql session {SAYS}"


@pytest.mark.parametrize("text, manual", [
    ("Connect to the database with psql and run:\n\n```sql\nDELETE FROM jobs;\n```\n",
     f"to type in a psql session {SAYS}"),
    ("In the Rails console, type:\n\n```ruby\nUser.count\n```\n",
     f"to type in the Rails console {SAYS}"),
    ("An example model:\n\n```ruby\nclass User; end\n```\n", ""),
    ("The schema:\n\n```sql\nCREATE TABLE t (id int);\n```\n", ""),
    ("In psql, run:\n\n```sql {run=false}\nDELETE FROM jobs;\n```\n", ""),
])
def test_console_blocks_only_with_a_cue(text: str, manual: str) -> None:
    (step,) = rb(text).steps
    assert step.manual == manual
    assert step.kind is (StepKind.CHECK if manual else StepKind.REFERENCE)


def test_git_push_meant_for_another_repository_is_manual() -> None:
    text = ("In the `chef-repo` repository, commit the change:\n\n```bash\n"
            "git commit -am 'bump' && git push\n```\n")
    (step,) = rb(text).steps
    assert step.kind is StepKind.CHECK and "chef-repo repository" in step.manual
    for ok in ("Commit the change:\n\n```bash\ngit commit -am x && git push\n```\n",
               "In the `chef-repo` repository:\n\n```bash\ncd ~/chef-repo\ngit push\n```\n"):
        assert rb(ok).steps[0].kind is StepKind.SHELL


def test_editor_tasks_are_manual() -> None:
    for cmd in ("bundle exec rake 'edit_role[gitlab-base]'", "knife role edit gitlab-base",
                "rake edit_role[gprd-base]"):
        (step,) = rb(f"```bash\n{cmd}\n```\n").steps
        assert step.kind is StepKind.CHECK and step.manual == "opens an editor", cmd
    assert rb("```bash\nrake db:migrate\n```\n").steps[0].kind is StepKind.SHELL


def test_check_explains_a_block_the_text_places_elsewhere() -> None:
    result = parse_text("Log in to the worker and run:\n\n```bash\nuptime\n```\n", "t.md")
    found = [d for d in check_runbook(result, inventory=False) if getattr(d, "rule", "")]
    assert [(d.rule, d.line) for d in found] == [("SW104", 3)]  # type: ignore[attr-defined]
    assert "runs on the worker" in found[0].message and "hosts=" in found[0].fix  # type: ignore
    ruby = parse_text("In the Rails console, run:\n\n```ruby\nUser.count\n```\n", "t.md")
    (console,) = [d for d in check_runbook(ruby, inventory=False) if getattr(d, "rule", "")]
    assert console.rule == "SW104" and "gitlab-rails runner" in console.fix  # type: ignore
    inline = parse_text("Run `make deploy ENV=x` now.\n", "t.md")
    assert not [d for d in check_runbook(inline, inventory=False) if getattr(d, "rule", "")]


def test_block_reason_needs_the_lead() -> None:
    assert block_reason("", "bash", "uptime\n", True) == ""
    assert block_reason("Log in to the worker and run:", "yaml", "a: 1\n", False) == ""


# -- the corpus, and time -------------------------------------------------------------------
CORPUS = Path(__file__).parents[2] / "shared" / "corpus"


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")
def test_corpus_inline_steps() -> None:
    """26 steps in 16 alert runbooks, each judged by hand: "Check pod events via `kubectl …`"
    in a Diagnosis list is an order; "e.g. `kubectl exec` and `kubectl logs`" is not."""
    from swrun.parser import parse_file

    made = {}
    for path in sorted(CORPUS.rglob("*.md")):
        for s in parse_file(path).runbook.steps:
            if s.manual.startswith("in the text"):
                made[f"{path.name}:{s.span.line}"] = (s.title, s.body)
    assert len(made) == 26
    assert made["KubePodCrashLooping.md:22"][0] == "Check pod events"
    assert made["hypershift-addon-sop.md:26"][1] == "oc get hostedcluster -A\n"
    assert not any(k.startswith("KubeletDown.md") for k in made)


UNITS = ("run `a b` ", "`a b` ", "`a b` and ", "on the ", "log in to ", "(", "Check ", "a ",
         ", ", "run ", "use ", "`", "ssh a -D ", "rake edit_", "in the x repo ", ". ", "\n",
         "when you run ", "e.g. ", "`sudo x` ", "`x-y z`, ")
PLACES = ("{}\n", "- {}\n", "1. {}\n", "> Run {}\n",
          "Log in to the worker and run {}:\n\n```bash\nuptime\n```\n",
          "In the Rails console {}:\n\n```ruby\nx\n```\n",
          "```bash\n{}\n```\n")


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(unit=st.sampled_from(UNITS), place=st.sampled_from(PLACES))
def test_repeated_units_read_in_linear_time(unit: str, place: str) -> None:
    text = place.format(unit * max(30, 40_000 // len(unit)))
    within_budget(_call, lambda t: check_runbook(parse_text(t, "x.md"), inventory=False,
                                                 lint=False), text)
    body = unit * max(30, 40_000 // len(unit))
    for reader in (also_interactive, lambda t: block_reason(t, "bash", t, True),
                   lambda t: block_reason(t, "ruby", t, False)):
        within_budget(_call, reader, body)
