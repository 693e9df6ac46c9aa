"""Where an AWS call connects: region, profile and endpoint (attribute, variable, inventory,
environment), the boto3 session and client, and what a botocore error means in one line.
boto3/botocore are imported inside the functions that need them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swrun.executors.base import StepContext
from swrun.model import Step


@dataclass(frozen=True)
class AwsConfig:
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


def aws_config(step: Step | None, ctx: StepContext) -> AwsConfig:
    """Region/profile/endpoint: attribute, variable, inventory `all` vars, environment."""
    inv = _inventory_vars(ctx)
    out = {}
    for key, var, env in (("region", "AWS_REGION", ("AWS_REGION", "AWS_DEFAULT_REGION")),
                          ("profile", "AWS_PROFILE", ("AWS_PROFILE",)),
                          ("endpoint_url", "AWS_ENDPOINT_URL", ("AWS_ENDPOINT_URL",))):
        raw = step.text(key) if step is not None else None
        # an attribute's $NAME is already filled in by the engine
        value = raw or ctx.variables.get(var) or inv.get(f"aws_{key}")
        value = value or next((ctx.env[e] for e in env if ctx.env.get(e)), None)
        out[key] = str(value) if value else None
    return AwsConfig(**out)


def _inventory_vars(ctx: StepContext) -> Mapping[str, Any]:
    given = ctx.settings.get("inventory")
    path = Path(str(given)) if given else (
        ctx.runbook.base_dir / ctx.runbook.inventory if ctx.runbook.inventory else None)
    if path is None or not path.exists():
        return {}
    try:
        from swrun.inventory import Inventory

        inv = Inventory(path)
        group = inv._manager.groups.get("all")  # the `all` group vars
        return dict(group.get_vars()) if group is not None else {}
    except Exception:  # an unreadable inventory is reported by `swrun check`
        return {}


def boto_session(cfg: AwsConfig, env: Mapping[str, str]) -> Any:
    import boto3

    if cfg.profile:
        return boto3.session.Session(profile_name=cfg.profile, region_name=cfg.region)
    return boto3.session.Session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        aws_session_token=env.get("AWS_SESSION_TOKEN") or None,
        region_name=cfg.region)


def client(boto: Any, cfg: AwsConfig, service: str, pool: int) -> Any:
    """A botocore client for `service` on `cfg`'s endpoint, with swrun's timeouts and retries."""
    from botocore.config import Config

    return boto.client(
        service, endpoint_url=cfg.endpoint_url,
        config=Config(max_pool_connections=pool, connect_timeout=5,
                      read_timeout=60, retries={"max_attempts": 4, "mode": "standard"}))


def explain(cfg: AwsConfig, exc: Exception, what: str) -> str:
    """One line saying what a botocore error means for `what`."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ProfileNotFound,
    )

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code, msg = err.get("Code", "?"), err.get("Message", "")
        if code in ("NoSuchBucket", "404") and "bucket" in what:
            return f"{what}: the bucket does not exist ({code})"
        return f"{what}: {msg or code} ({code})" if msg != code else f"{what}: {code}"
    if isinstance(exc, NoCredentialsError):
        return (f"{what}: no AWS credentials (set profile=, AWS_PROFILE or "
                "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
    if isinstance(exc, NoRegionError):
        return f"{what}: no AWS region (set region= or AWS_REGION)"
    if isinstance(exc, ProfileNotFound):
        return f"{what}: AWS profile {cfg.profile} not found"
    if isinstance(exc, EndpointConnectionError):
        return f"{what}: cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}"
    if isinstance(exc, BotoCoreError):
        return f"{what}: {exc}"
    if isinstance(exc, OSError):
        return f"{what}: {exc.strerror or exc}"
    return f"{what}: {type(exc).__name__}: {exc}"
