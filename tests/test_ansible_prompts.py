"""Finding what would make a playbook wait for a person, before it runs (no Ansible needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from swrun.ansible.prompts import find_prompts
from swrun.checks import check_runbook
from swrun.parser import parse_file

from helpers import write_runbook


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_vars_prompt_and_waiting_pauses_are_found_with_their_lines(tmp_path: Path) -> None:
    pb = _write(tmp_path / "site.yml", """
        - hosts: all
          vars_prompt:
            - name: release
              prompt: Which release?
            - name: password
              private: true
          tasks:
            - ansible.builtin.pause:
                prompt: Press enter
            - pause: seconds=3
            - ansible.builtin.pause:
                minutes: 1
            - block:
                - pause:
              rescue:
                - name: nested
                  ansible.builtin.pause: prompt=sure?
        """)
    found = find_prompts(pb)
    assert [(p.kind, p.name, p.line) for p in found] == [
        ("vars_prompt", "release", 3), ("vars_prompt", "password", 5), ("pause", "", 8),
        ("pause", "", 14), ("pause", "", 16)]
    assert [p.name for p in find_prompts(pb, answered={"release", "password"})] == ["", "", ""]
    assert "declare a runbook variable release" in found[0].describe(tmp_path)
    assert found[2].describe(tmp_path).startswith("site.yml:8: pause waits for a key press")


def test_the_scan_follows_imports_roles_and_task_files(tmp_path: Path) -> None:
    _write(tmp_path / "roles/gate/tasks/main.yml", "- pause:\n    prompt: go?\n")
    _write(tmp_path / "tasks/ask.yml", "- ansible.builtin.pause:\n")
    _write(tmp_path / "other.yml", "- hosts: all\n  vars_prompt:\n    - name: who\n")
    pb = _write(tmp_path / "site.yml", """
        - import_playbook: other.yml
        - hosts: all
          roles: [gate]
          tasks:
            - import_tasks: tasks/ask.yml
            - include_tasks: "{{ dynamic }}.yml"
            - import_role:
                name: gate
        """)
    kinds = sorted((p.path.name, p.kind) for p in find_prompts(pb))
    assert kinds == [("ask.yml", "pause"), ("main.yml", "pause"), ("other.yml", "vars_prompt")]


def test_a_playbook_without_prompts_and_a_broken_one_are_both_quiet(tmp_path: Path) -> None:
    ok = _write(tmp_path / "ok.yml", "- hosts: all\n  tasks:\n    - ping:\n")
    broken = _write(tmp_path / "broken.yml", "- hosts: [unclosed\n")
    vault = _write(tmp_path / "vault.yml", "- hosts: all\n  vars:\n    x: !vault |\n      abc\n")
    assert find_prompts(ok) == find_prompts(broken) == find_prompts(vault) == []


def test_swrun_check_reports_an_unanswered_prompt_at_the_step(tmp_path: Path) -> None:
    _write(tmp_path / "pb.yml", "- hosts: all\n  vars_prompt:\n    - name: release\n"
           "    - name: region\n")
    rb = write_runbook(tmp_path, """
        +++
        [vars.region]
        default = "eu"
        +++
        # Deploy

        ```ansible {playbook=pb.yml}
        ```
        """)
    diags = check_runbook(parse_file(rb))
    assert [(d.line, d.severity, d.message) for d in diags] == [
        (7, "error", "playbook waits for input: pb.yml:3: vars_prompt asks for 'release'; "
         "declare a runbook variable release (or set it in the step body) to answer it")]
    rb.write_text(rb.read_text().replace("```ansible {playbook=pb.yml}\n",
                                         "```ansible {playbook=pb.yml}\nrelease: v1\n"))
    assert check_runbook(parse_file(rb)) == []
