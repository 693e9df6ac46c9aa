"""Executors: one module per backend, imported only when a runbook needs that kind of step."""

from __future__ import annotations

from importlib import import_module

from swrun.executors.base import Executor, Output, StepContext, StepResult
from swrun.model import Step, StepKind

__all__ = ["Executor", "Output", "StepContext", "StepResult", "executor_for", "registry_key"]

# kind (or "shell@remote") → "module:Class"; modules are imported on first use only.
REGISTRY: dict[str, str] = {
    "shell": "swrun.executors.shell:ShellExecutor",
    "file": "swrun.executors.file:FileExecutor",
    "ssh": "swrun.executors.ssh:SshExecutor",
    "pm2": "swrun.executors.pm2:Pm2Executor",
    "ansible": "swrun.executors.ansible:AnsibleExecutor",
    "ansible-adhoc": "swrun.executors.ansible:AnsibleAdhocExecutor",
    "mongo": "swrun.executors.mongo:MongoExecutor",
    "aws": "swrun.executors.aws:AwsExecutor",
    "http": "swrun.executors.http:HttpExecutor",
    "wait": "swrun.executors.wait:WaitExecutor",
}
_loaded: dict[str, Executor] = {}


def registry_key(step: Step) -> str:
    if step.kind is StepKind.SHELL and step.targets:
        return "ssh" if step.text("via", "ssh") == "ssh" else "ansible-adhoc"
    if step.kind is StepKind.SHELL and step.attributes.get("file"):
        return "file"  # a block written to a file on this machine (no shell at all)
    return step.kind.value


def executor_for(step: Step) -> Executor | None:
    """The executor for `step`, or None when this swrun has no backend for its kind."""
    key = registry_key(step)
    if key in _loaded:
        return _loaded[key]
    target = REGISTRY.get(key)
    if target is None:
        return None
    module, _, name = target.partition(":")
    try:
        executor = getattr(import_module(module), name)()
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None  # a backend this version does not ship yet
    _loaded[key] = executor
    return executor
