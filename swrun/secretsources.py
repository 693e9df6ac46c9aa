"""Where a declared value comes from besides `--var` and its default: the environment, and AWS
Secrets Manager (boto3 imported only when a runbook names a secret there). Below both
`swrun.variables` and the executors, so neither reaches into the other for a value."""

from __future__ import annotations

from collections.abc import Mapping

from swrun.awsconfig import AwsConfig, aws_config, boto_session, client, explain
from swrun.errors import VariableError
from swrun.executors.base import StepContext
from swrun.model import Variable

SECRETS_MANAGER = "aws-secretsmanager:"


def env_source(var: Variable, env: Mapping[str, str]) -> tuple[str, str] | None:
    """`(value, source)` the environment gives `var`: the variable `from = "env:NAME"` names
    first, then the one of the same name; None when neither is set."""
    if var.source and var.source.startswith("env:"):
        other = var.source[4:]
        if other in env:
            return env[other], ("env" if other == var.name else f"env:{other}")
    if var.name in env:
        return env[var.name], "env"
    return None


def fetch_secret(secret_id: str, ctx: StepContext, cfg: AwsConfig | None = None) -> str:
    """The SecretString of `aws-secretsmanager:ID` (for variables with that `from`); a failure
    is a VariableError whose message says what went wrong."""
    cfg = cfg or aws_config(None, ctx)
    try:
        value = client(boto_session(cfg, ctx.env), cfg, "secretsmanager", 2
                       ).get_secret_value(SecretId=secret_id)
    except Exception as exc:
        raise VariableError(explain(cfg, exc, f"secret {secret_id}")) from None
    if "SecretString" not in value:
        raise VariableError(f"secret {secret_id} is binary; only string secrets can be variables")
    return str(value["SecretString"])
