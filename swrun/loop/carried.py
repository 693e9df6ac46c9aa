"""Carried shell state and the context a step runs in: what earlier local shell steps
exported and where they `cd`-ed to (swrun.carry), the step's environment and settings."""

from __future__ import annotations

from swrun import kube
from swrun.executors.base import StepContext, StepResult
from swrun.model import Step, StepKind


class _Carried:
    """The Engine's carried-state methods (a mixin: `self` is the Engine)."""

    def _local_shell(self, step: Step) -> bool:
        return step.kind is StepKind.SHELL and not step.targets

    def _carry(self, step: Step, result: StepResult) -> None:
        """Keep what a local shell step exported and where it `cd`-ed to, for the later local
        shell steps (swrun.carry); the logged copy masks secret-looking names, and a value
        built from a secret is logged as its template."""
        state = result.data.get("shell_state") if result.data else None
        if not isinstance(state, dict) or not self._local_shell(step):
            return
        logged, fresh = self._shell.take(state, self._step_env(), self.masker)
        if fresh:
            self.masker = self.masker.with_secrets(fresh)
        if logged is not None:
            result.data["shell_state"] = logged
        else:
            result.data.pop("shell_state", None)

    def _step_env(self, local_shell: bool = True) -> dict[str, str]:
        """The environment a step starts with, before swrun's own SWRUN_* names."""
        env = dict(self._environ)
        if local_shell:
            env.update(self._shell.env)
        env.update(self.variables)
        return env

    def _context(self, step: Step) -> StepContext:
        local = self._local_shell(step)
        env = self._step_env(local)
        settings = self.settings.executor_settings
        if local:
            from swrun.variables import looks_secret

            settings = {**settings, "carry_shell_state": True, "shell_cwd": self._shell.cwd,
                        "shell_aliases": dict(self._shell.aliases),
                        "secret_names": sorted(self._secret_names | {
                            k for k in env if looks_secret(k)})}
        env.update({
            "SWRUN_RUN_ID": self.settings.run_id,
            "SWRUN_STEP": step.id,
            "SWRUN_RUNBOOK_DIR": str(self.runbook.base_dir),
        })
        if self.settings.log_path:
            env["SWRUN_LOG"] = self.settings.log_path
        env.pop(kube.ENV, None)  # never an outer swrun's: this run decided its own
        if local and (context := kube.context_for(step, self.runbook, settings)):
            env[kube.ENV] = context
        return StepContext(
            runbook=self.runbook, variables=self.variables, env=env, cancel=self._cancel,
            timeout=step.seconds("timeout"), run_dir=self.settings.run_dir,
            settings={**settings, "check_mode": True} if self.settings.dry_run else settings,
            kill_grace=self.settings.kill_grace,
            confirm=lambda reason: self._confirm_mid_step(step, reason),
        )
