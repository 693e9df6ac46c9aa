"""The Ansible backend's parts, behind swrun.executors.ansible.

- `job`: one ansible-playbook run through ansible-runner, streamed, stoppable, private files
- `events`: runner events → output lines, per-host failures and the play recap
- `prompts`: find `vars_prompt` and waiting `pause` tasks before a run
- `procs`: take down ansible's workers, ssh clients and ControlPersist masters on abort

ansible_runner is imported by `job` only when a step runs, never by this package.
"""
