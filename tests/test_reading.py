"""Reading the runbooks people already have (docs/runbook-format.md, "Reading existing
runbooks"): prompts, placeholders, manual commands, sections by meaning, and what `swrun check`
finds. Real runbooks from ../shared/corpus are pinned when present."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from swrun.checks import check_runbook
from swrun.cli import main
from swrun.model import StepKind
from swrun.parser import parse_text

CORPUS = Path(__file__).parents[2] / "shared" / "corpus"


def rb(text: str):  # type: ignore[no-untyped-def]
    return parse_text(text, "t.md").runbook


def rules(text: str) -> list[tuple[str, int]]:
    result = parse_text(text, "t.md")
    return [(getattr(d, "rule", ""), d.line) for d in check_runbook(result, inventory=False)
            if getattr(d, "rule", "")]


# -- prompts ---------------------------------------------------------------------------------
def test_prompts_in_a_bash_fence_are_stripped_and_output_dropped() -> None:
    (step,) = rb("```bash\n$ kubectl get pods\nNAME  READY\napi   1/1\n"
                 "user@host:~/app$ make \\\n  deploy\n```\n").steps
    assert step.kind is StepKind.SHELL
    assert step.body == "kubectl get pods\nmake \\\n  deploy\n"
    assert step.prompts == (2, 5) and step.lines == (2, 5, 6)
    assert ("SW103", 2) in rules("```bash\n$ kubectl get pods\n```\n")


def test_hash_is_a_root_prompt_only_in_a_prompted_block() -> None:
    (step,) = rb("```bash\n$ oc debug node/x\n# sysctl -a\n# Restart it.\n```\n").steps
    assert "sysctl -a" in step.body and "Restart" not in step.body
    (plain,) = rb("```bash\n# Restart the service\nsystemctl restart nginx\n```\n").steps
    assert plain.body.startswith("# Restart the service") and not plain.prompts


def test_promptless_console_block_of_output_is_reference() -> None:
    (step,) = rb("```console\nNAME  READY  STATUS\napi-1  1/1  Running\n```\n").steps
    assert step.kind is StepKind.REFERENCE
    (query,) = rb('```console\nsum(rate(http_requests_total{job="api"}[5m]))\n```\n').steps
    assert query.kind is StepKind.REFERENCE
    (cmd,) = rb("```console\ncurl -fsS localhost/health\n```\n").steps
    assert cmd.kind is StepKind.SHELL


# -- placeholders ----------------------------------------------------------------------------
def test_placeholders_become_variables_and_env_references() -> None:
    book = rb("```bash\nkubectl -n <namespace> logs '<pod>' --tail=1 # <not-this>\n"
              'curl "https://<host>/x" -H "Authorization: YOUR_API_TOKEN"\n'
              "helm upgrade app --set image.tag=...\necho {{region}}\n```\n")
    (step,) = book.steps
    assert step.body.splitlines()[0] == \
        "kubectl -n \"${NAMESPACE}\" logs ''\"${POD}\"'' --tail=1 # <not-this>"
    assert 'curl "https://${HOST}/x" -H "Authorization: ${API_TOKEN}"' in step.body
    assert 'image.tag="${IMAGE_TAG}"' in step.body and 'echo "${REGION}"' in step.body
    assert [p.name for p in step.placeholders] == \
        ["NAMESPACE", "POD", "HOST", "API_TOKEN", "IMAGE_TAG", "REGION"]
    assert {n for n, v in book.variables.items() if v.placeholder} == \
        {"NAMESPACE", "POD", "HOST", "API_TOKEN", "IMAGE_TAG", "REGION"}
    assert book.variables["POD"].required and book.variables["POD"].line == 2


def test_placeholder_names_never_take_the_shells_own() -> None:
    (step,) = rb("```bash\nls <path>\nNODE='<value of instance label from alert>'\n```\n").steps
    assert [p.name for p in step.placeholders] == ["PATH_VALUE", "NODE"]


def test_braced_variable_nothing_sets_is_asked_unless_exported_earlier() -> None:
    book = rb("```bash\nexport REGION=eu\n```\n\n```bash\necho ${REGION} ${CLUSTER} ${HOME}\n"
              "X=1; echo ${X}\n```\n")
    assert [p.name for p in book.steps[1].placeholders] == ["CLUSTER"]
    assert "REGION" not in book.variables


def test_declared_variable_fills_a_placeholder_of_its_name() -> None:
    book = rb('+++\n[vars.POD]\ndefault = "api-0"\n+++\n\n```bash\nkubectl logs <pod>\n```\n')
    assert not book.variables["POD"].placeholder


def test_placeholder_value_reaches_the_command_as_data(tmp_path: Path) -> None:
    book = tmp_path / "rb.md"
    book.write_text("# T\n\n```bash\necho \"pod=<pod>\"\n```\n")
    out = CliRunner().invoke(main, ["execute", str(book), "--var", "POD=$(echo pwned); x",
                                    "--log", str(tmp_path / "run.log")])
    assert out.exit_code == 0, out.output
    assert "pod=$(echo pwned); x" in out.output


def test_missing_placeholder_headless_stops_before_anything_runs(tmp_path: Path) -> None:
    book = tmp_path / "rb.md"
    book.write_text("```bash\ntouch ran; echo <pod>\n```\n")
    out = CliRunner().invoke(main, ["execute", str(book), "--log", str(tmp_path / "r.log")])
    assert out.exit_code == 6 and "POD" in out.output
    assert not (tmp_path / "ran").exists()


# -- manual steps ----------------------------------------------------------------------------
@pytest.mark.parametrize("command", [
    "kubectl edit deployment api", "kubectl exec -it api-0 -- bash", "ssh web1",
    "$EDITOR /etc/app.conf", "sudo su -", "tail -f /var/log/syslog", "watch kubectl get pods",
    "kubectl logs -f api-0", "oc debug node/worker-1", "psql -h db app",
])
def test_commands_that_need_a_terminal_are_manual(command: str) -> None:
    (step,) = rb(f"```bash\n{command}\n```\n").steps
    assert step.kind is StepKind.CHECK and step.manual and step.body == command + "\n"
    assert rules(f"```bash\n{command}\n```\n")[0][0] == "SW104"


@pytest.mark.parametrize("command", [
    "ssh web1 uptime", "kubectl exec api-0 -- ls", "psql -c 'select 1;'", "tail -n 50 x.log",
    "kubectl logs --tail=100 api-0", "redis-cli ping", "sleep 100 &",
])
def test_commands_that_end_on_their_own_run(command: str) -> None:
    (step,) = rb(f"```bash\n{command}\n```\n").steps
    assert step.kind is StepKind.SHELL


def test_run_marks_an_interactive_block_runnable() -> None:
    (step,) = rb("```bash {run}\ntail -f x.log\n```\n").steps
    assert step.kind is StepKind.SHELL


def test_blocks_after_a_session_opener_are_for_that_session() -> None:
    book = rb("## Debug\n\n```bash\nkubectl exec -it api-0 -- sh\n```\n\n```bash\ncat /etc/x\n"
              "exit\n```\n\n```bash\nkubectl get pods\n```\n\n## Next\n\n```bash\nls\n```\n")
    assert [s.manual.split(" ")[0] for s in book.steps] == ["opens", "typed", "", ""]
    assert ("SW106", 7) in rules("## D\n\n```bash\nssh web1\n```\n\n```bash\nuptime\n```\n")


def test_command_like_fence_without_language_is_manual() -> None:
    (step,) = rb("```\nkubectl rollout restart deploy/api\n```\n").steps
    assert step.kind is StepKind.CHECK and step.manual.startswith("no language")
    (ref,) = rb("```\nreplicas: 3\nimage: api\n```\n").steps
    assert ref.kind is StepKind.REFERENCE


def test_numbered_list_items_with_commands_are_manual_steps() -> None:
    book = rb("1. **Check the pods.** Run `kubectl get pods -n <ns>` and look.\n"
              "2. Tell the team in chat.\n3. Restart with `systemctl restart api`.\n")
    assert [(s.title, s.body) for s in book.steps] == [
        ("Check the pods", 'kubectl get pods -n "${NS}"\n'),
        ("Restart with systemctl restart api", "systemctl restart api\n")]
    assert all(s.kind is StepKind.CHECK and s.manual == "list item" for s in book.steps)


# -- sections by meaning ---------------------------------------------------------------------
def test_rollback_and_optional_sections_by_title() -> None:
    book = rb("## Deploy\n\n```bash\nmake deploy\n```\n\n## Rolling back\n\n```bash\nmake undo\n"
              "```\n\n## Troubleshooting\n\n```bash\nmake logs\n```\n\n## Appendix A\n\n"
              "- [ ] a check\n")
    deploy, undo, logs, check = book.steps
    assert not deploy.in_rollback and undo.in_rollback and undo.number == 2
    assert logs.optional and logs.kind is StepKind.REFERENCE and logs.number is None
    assert check.optional and check.kind is StepKind.REFERENCE
    assert [s.id for s in book.main_steps] == [deploy.id]


def test_front_matter_and_section_comments_override_titles() -> None:
    book = rb("+++\nrollback = \"Undo\"\noptional = false\n+++\n\n## Rollback notes\n\n"
              "```bash\necho a\n```\n\n## Undo\n\n```bash\necho b\n```\n\n## FAQ\n\n"
              "```bash\necho c\n```\n")
    assert [(s.in_rollback, s.optional) for s in book.steps] == [
        (False, False), (True, False), (False, False)]
    book = rb("## Revert\n<!-- swrun: rollback=false -->\n\n```bash\necho a\n```\n\n"
              "## Debugging\n<!-- swrun: optional=false -->\n\n```bash\necho b\n```\n")
    assert [(s.in_rollback, s.optional) for s in book.steps] == [(False, False), (False, False)]


def test_create_path_writes_the_block(tmp_path: Path) -> None:
    book = tmp_path / "rb.md"
    book.write_text("# T\n\nCreate `scripts/hello.sh`:\n\n```bash\n#!/bin/bash\necho hi $1\n"
                    "```\n\n```yaml {file=conf/app.yml}\nreplicas: 3\n```\n\n"
                    "```bash\n./scripts/hello.sh you\n```\n")
    steps = rb(book.read_text()).steps
    assert [s.title for s in steps][:2] == ["Write scripts/hello.sh", "Write conf/app.yml"]
    assert steps[0].written == "#!/bin/bash\necho hi $1\n"
    out = CliRunner().invoke(main, ["execute", str(book), "--log", str(tmp_path / "r.log")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "scripts/hello.sh").read_text() == "#!/bin/bash\necho hi $1\n"
    assert (tmp_path / "conf/app.yml").read_text() == "replicas: 3\n"
    assert "hi you" in out.output


def test_titles_from_bold_lead_or_first_sentence() -> None:
    long = "Then restart every pod of the deployment. After that wait until every one of " \
           "them is ready again, which takes a while on a big cluster."
    book = rb(f"**Restart the pods.** Then more.\n\n```bash\nls\n```\n\n{long}\n\n"
              "```bash\nls\n```\n")
    assert book.steps[0].title == "Restart the pods"
    assert book.steps[1].title == "Then restart every pod of the deployment"


# -- check rules -----------------------------------------------------------------------------
def test_syntax_and_risky_patterns_with_lines_and_allow() -> None:
    text = ("```bash\necho ok\nif true; then\n  echo x\n```\n\n"
            "```bash\ncurl -fsSL https://get.example.com | sh\nwget http://example.com/x.tgz\n"
            "rm -rf \"$DIR/\"*\n```\n\n```bash {destructive}\nset +e\nkubectl delete ns x\n```\n")
    found = rules(text)
    assert ("SW101", 5) in found or any(r == "SW101" for r, _ in found)
    for rule, line in (("SW201", 8), ("SW202", 9), ("SW203", 10), ("SW204", 14)):
        assert (rule, line) in found, found
    silenced = text.replace("```bash\ncurl", '```bash {allow="SW201,SW202"}\ncurl')
    assert not {r for r, _ in rules(silenced)} & {"SW201", "SW202"}


def test_variable_set_later_or_not_exported() -> None:
    found = rules("```bash\necho $TARGET\n```\n\n```bash\nTARGET=x\n```\n\n"
                  "```bash\nLOCAL=1\n```\n\n```bash\necho $LOCAL\n```\n")
    assert ("SW107", 2) in found and ("SW108", 14) in found


def test_check_format_json_and_strict(tmp_path: Path) -> None:
    book = tmp_path / "rb.md"
    book.write_text("```bash\n$ kubectl logs <pod>\n```\n")
    out = CliRunner().invoke(main, ["check", "--format", "json", str(book)])
    data = json.loads(out.stdout)
    assert out.exit_code == 0 and data["warnings"] == 1 and data["infos"] == 1
    assert {(f["rule"], f["line"], f["severity"]) for f in data["findings"]} == {
        ("SW103", 2, "info"), ("SW102", 2, "warning")}
    assert all(f["fix"] for f in data["findings"])
    assert CliRunner().invoke(main, ["check", "--strict", str(book)]).exit_code == 3


def test_shipped_runbooks_pass_strict_rules() -> None:
    for path in sorted((Path(__file__).parents[1] / "runbooks").glob("*.md")):
        result = parse_text(path.read_text(), str(path))
        found = [d for d in check_runbook(result, inventory=False, strict=True)
                 if getattr(d, "rule", "")]
        assert found == [], (path, [str(d) for d in found])


# -- the corpus ------------------------------------------------------------------------------
_PINS = {  # file: (kinds as plan shows them, rules check finds)
    "prometheus-operator-runbooks/node/NodeFilesystemFilesFillingUp.md":
        (["manual"], {"SW102", "SW103", "SW104"}),
    "prometheus-operator-runbooks/node/NodeRAIDDiskFailure.md": ([], set()),
}


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")
@pytest.mark.parametrize("name", sorted(_PINS))
def test_corpus_pins(name: str) -> None:
    from swrun.plan import kind_of

    result = parse_text((CORPUS / name).read_text(), name)
    kinds, expected = _PINS[name]
    assert [kind_of(s) for s in result.runbook.actionable] == kinds
    found = {getattr(d, "rule", "") for d in check_runbook(result, inventory=False)} - {""}
    assert found == expected


@pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")
def test_corpus_runnable_steps_have_no_prompt_or_unflagged_problem() -> None:
    for path in sorted(CORPUS.rglob("*.md")):
        result = parse_text(path.read_text(), str(path))
        found = {(getattr(d, "rule", ""), d.line) for d in
                 check_runbook(result, inventory=False)}
        for step in result.runbook.steps:
            if step.kind is not StepKind.SHELL:
                continue
            assert not any(line.startswith("$ ") for line in step.body.split("\n")), path
            for use in step.placeholders:
                assert ("SW102", use.line) in found, (path, use)
