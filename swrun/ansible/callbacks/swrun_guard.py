"""Ansible callback loaded into every ansible-playbook swrun starts: stop at any prompt.

swrun runs ansible-playbook with stdin on /dev/null, so Ansible would not wait at a
`vars_prompt` or a `pause` without seconds/minutes: it would carry on with an empty answer.
This callback runs in the controller before that happens, writes why to $SWRUN_GUARD_FILE
and blocks the play so no further task starts; swrun sees the file and cancels the run.
"""

from __future__ import annotations

import os
import time

from ansible.plugins.callback import CallbackBase

PAUSE_ACTIONS = frozenset({"pause", "ansible.builtin.pause", "ansible.legacy.pause"})
_BLOCK_SECONDS = 120  # swrun cancels within a second; this only bounds an orphaned run


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "swrun_guard"
    CALLBACK_NEEDS_ENABLED = False

    def _stop(self, why: str) -> None:
        path = os.environ.get("SWRUN_GUARD_FILE")
        if not path:
            return
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(why)
        deadline = time.monotonic() + _BLOCK_SECONDS
        while time.monotonic() < deadline:
            time.sleep(0.1)
        os._exit(99)

    def v2_playbook_on_vars_prompt(self, varname, *args, **kwargs):
        self._stop(f"the playbook prompts for {varname!r} (vars_prompt); declare a runbook "
                   f"variable {varname} to answer it")

    def v2_runner_on_start(self, host, task):
        if task.action in PAUSE_ACTIONS and not {"seconds", "minutes"} & set(task.args):
            where = task.get_path() or "a pause task"
            self._stop(f"{where}: pause waits for a key press (found at run time); give it "
                       "seconds= or minutes=")
