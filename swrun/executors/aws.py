"""AWS steps through boto3: S3 sync/put/get, CloudFront invalidations, ALB blue/green weights,
and Secrets Manager look-ups. boto3/botocore are imported here, on the run path only.

Region, profile and endpoint come from the step's attributes (`region=`, `profile=`,
`endpoint_url=`, which may name variables), then runbook variables AWS_REGION / AWS_PROFILE /
AWS_ENDPOINT_URL, then the inventory's `all` vars aws_region / aws_profile / aws_endpoint_url,
then the environment, so one runbook runs against AWS or a local emulator.
"""

from __future__ import annotations

import hashlib
import mimetypes
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from swrun.awsconfig import AwsConfig, aws_config, boto_session, client, explain
from swrun.durations import format_duration
from swrun.events import StepStatus
from swrun.executors.base import Output, StepContext, StepResult
from swrun.model import Step
from swrun.ops import aws as lang
from swrun.ops.lex import OpError
from swrun.ops.runtime import (
    Budget,
    OpFailed,
    human_bytes,
    local_path,
    run_ops,
    secret_masker,
)
from swrun.secretsources import fetch_secret as fetch_secret  # its old place

WORKERS = 16
"""Concurrent S3 uploads in a sync."""
PART = 8 * 1024 * 1024
"""Multipart threshold and chunk size; a multipart ETag is computed locally with the same size."""
SHOWN = 50
"""Per-file lines printed by a sync before summarising the rest."""
KEPT = 100
"""Keys listed in the step's data per kind (uploaded, deleted)."""
DEFAULT_INTERVAL = 5.0
INVALIDATION_LIMIT = 30 * 60.0
_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


class AwsExecutor:
    def run(self, step: Step, ctx: StepContext) -> Iterator[Output | StepResult]:
        masker = secret_masker(ctx, [ctx.env.get(k, "") for k in _SECRET_ENV])
        try:
            ops = lang.parse(step.body, ctx.variables)
        except OpError as exc:
            yield StepResult(StepStatus.FAILED, error=masker.mask(f"aws: {exc}"))
            return
        session = _Session(aws_config(step, ctx), ctx, Budget(ctx),
                           step.seconds("interval", DEFAULT_INTERVAL) or DEFAULT_INTERVAL)
        yield from run_ops("aws", ops, session.run, masker)


class _Session:
    def __init__(self, cfg: AwsConfig, ctx: StepContext, budget: Budget | None = None,
                 interval: float = DEFAULT_INTERVAL) -> None:
        self.cfg, self.ctx = cfg, ctx
        self.budget = budget or Budget(ctx)
        self.interval = interval
        self._boto: Any = None
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            if self._boto is None:
                self._boto = boto_session(self.cfg, self.ctx.env)
            self._clients[service] = client(self._boto, self.cfg, service, WORKERS * 2)
        return self._clients[service]

    def explain(self, exc: Exception, what: str) -> str:
        return explain(self.cfg, exc, what)

    def run(self, op: lang.AwsOp) -> Iterator[Output]:
        self.budget.check()
        handler = getattr(self, f"_{op.name}")
        try:
            return (yield from handler(op))
        except (OpFailed, KeyboardInterrupt):
            raise
        except Exception as exc:
            from botocore.exceptions import BotoCoreError, ClientError

            if isinstance(exc, (BotoCoreError, ClientError, OSError)):
                raise OpFailed(self.explain(exc, _what(op))) from None
            raise

    # -- S3 -----------------------------------------------------------------------------------
    def _s3sync(self, op: lang.S3Sync) -> Iterator[Output]:
        src = local_path(self.ctx, op.dir)
        if not src.is_dir():
            raise OpFailed(f"s3 sync: {src} is not a directory")
        s3 = self.client("s3")
        where = f"s3://{op.bucket}/{op.prefix}" if op.prefix else f"s3://{op.bucket}"
        t0 = time.perf_counter()
        local = {self._key(op.prefix, p.relative_to(src)): p
                 for p in sorted(src.rglob("*")) if p.is_file()}
        remote: dict[str, tuple[int, str]] = {}
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=op.bucket, **({"Prefix": op.prefix + "/"} if op.prefix else {}))
        for page in pages:
            for obj in page.get("Contents", []):
                remote[obj["Key"]] = (obj["Size"], obj["ETag"].strip('"'))
            self.budget.check()
        todo = []
        for key, path in local.items():
            have = remote.get(key)
            size = path.stat().st_size
            if have is None or have[0] != size or have[1] != etag_of(path, size):
                todo.append((key, path, size))
        stale = sorted(set(remote) - set(local)) if op.delete else []
        yield Output(f"s3 sync {src} → {where}: {len(local)} local file(s), {len(remote)} "
                     f"remote object(s), {len(todo)} to upload"
                     f"{f', {len(stale)} to delete' if op.delete else ''}")
        uploaded = yield from self._upload_all(s3, op.bucket, todo)
        for start in range(0, len(stale), 1000):
            self.budget.check()
            batch = stale[start:start + 1000]
            resp = s3.delete_objects(Bucket=op.bucket, Delete={
                "Objects": [{"Key": k} for k in batch], "Quiet": True})
            if resp.get("Errors"):
                e = resp["Errors"][0]
                raise OpFailed(f"s3 sync: cannot delete {e['Key']}: {e.get('Message')}")
        for i, key in enumerate(stale):
            if i < SHOWN:
                yield Output(f"  ✗ deleted s3://{op.bucket}/{key}")
        if len(stale) > SHOWN:
            yield Output(f"  … and {len(stale) - SHOWN} more deleted")
        seconds = time.perf_counter() - t0
        sent = sum(size for _, _, size in todo)
        yield Output(f"✓ s3 sync {src} → {where}: {uploaded} uploaded ({human_bytes(sent)}), "
                     f"{len(local) - uploaded} unchanged, {len(stale)} deleted in "
                     f"{format_duration(seconds)}")
        return {"dir": str(src), "bucket": op.bucket, "prefix": op.prefix, "files": len(local),
                "uploaded": uploaded, "unchanged": len(local) - uploaded,
                "deleted": len(stale), "bytes": sent, "seconds": round(seconds, 3),
                "uploaded_keys": [k for k, _, _ in todo[:KEPT]],
                "deleted_keys": stale[:KEPT]}

    @staticmethod
    def _key(prefix: str, rel: Path) -> str:
        return f"{prefix}/{rel.as_posix()}" if prefix else rel.as_posix()

    def _upload_all(self, s3: Any, bucket: str,
                    todo: list[tuple[str, Path, int]]) -> Iterator[Output]:
        """Upload concurrently, printing files as they finish; returns how many."""
        done = 0
        pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="swrun-s3")
        futures: dict[Future[None], tuple[str, int]] = {}
        try:
            for key, path, size in todo:
                futures[pool.submit(self._upload, s3, bucket, key, path, size)] = (key, size)
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for fut in finished:
                    key, size = futures[fut]
                    exc = fut.exception()
                    if exc is not None:
                        raise OpFailed(self.explain(exc, f"s3 upload of {key} to bucket "
                                                    f"{bucket}")) from None
                    done += 1
                    if done <= SHOWN:
                        yield Output(f"  ↑ s3://{bucket}/{key} ({human_bytes(size)})")
                self.budget.check()
            if done > SHOWN:
                yield Output(f"  … and {done - SHOWN} more uploaded")
        finally:
            for fut in futures:
                fut.cancel()
            pool.shutdown(wait=True)
        return done

    def _upload(self, s3: Any, bucket: str, key: str, path: Path, size: int) -> None:
        if self.budget.cancel.is_set():
            return
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if size < PART:
            with open(path, "rb") as fh:
                s3.put_object(Bucket=bucket, Key=key, Body=fh, ContentType=ctype)
            return
        from boto3.s3.transfer import TransferConfig

        s3.upload_file(str(path), bucket, key, ExtraArgs={"ContentType": ctype},
                       Config=TransferConfig(multipart_threshold=PART, multipart_chunksize=PART,
                                             use_threads=False))

    def _s3put(self, op: lang.S3Put) -> Iterator[Output]:
        path = local_path(self.ctx, op.file)
        if not path.is_file():
            raise OpFailed(f"s3 put: {path} is not a file")
        s3 = self.client("s3")
        size = path.stat().st_size
        t0 = time.perf_counter()
        self._upload(s3, op.bucket, op.key, path, size)
        seconds = time.perf_counter() - t0
        yield Output(f"✓ s3 put {path} → s3://{op.bucket}/{op.key} ({human_bytes(size)}) in "
                     f"{format_duration(seconds)}")
        return {"file": str(path), "bucket": op.bucket, "key": op.key, "bytes": size,
                "etag": etag_of(path, size), "seconds": round(seconds, 3)}

    def _s3get(self, op: lang.S3Get) -> Iterator[Output]:
        path = local_path(self.ctx, op.file)
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(f".{path.name}.swrun-partial")
        s3 = self.client("s3")
        t0 = time.perf_counter()
        try:
            resp = s3.get_object(Bucket=op.bucket, Key=op.key)
            with open(part, "wb") as fh:
                for chunk in resp["Body"].iter_chunks(1 << 20):
                    fh.write(chunk)
                    self.budget.check()
            part.replace(path)
        finally:
            part.unlink(missing_ok=True)
        size = path.stat().st_size
        seconds = time.perf_counter() - t0
        yield Output(f"✓ s3 get s3://{op.bucket}/{op.key} → {path} ({human_bytes(size)}) in "
                     f"{format_duration(seconds)}")
        return {"file": str(path), "bucket": op.bucket, "key": op.key, "bytes": size,
                "etag": resp.get("ETag", "").strip('"'), "seconds": round(seconds, 3)}

    # -- CloudFront ---------------------------------------------------------------------------
    def _invalidate(self, op: lang.Invalidate) -> Iterator[Output]:
        cf = self.client("cloudfront")
        ref = f"swrun-{self.ctx.env.get('SWRUN_RUN_ID', 'run')}-{time.time_ns()}"
        t0 = time.perf_counter()
        inv = cf.create_invalidation(DistributionId=op.distribution, InvalidationBatch={
            "Paths": {"Quantity": len(op.paths), "Items": list(op.paths)},
            "CallerReference": ref})["Invalidation"]
        inv_id = inv["Id"]
        yield Output(f"cloudfront invalidation {inv_id} on {op.distribution}: "
                     f"{' '.join(op.paths)}")
        status = inv.get("Status", "")
        limit = self.budget.remaining(INVALIDATION_LIMIT) or INVALIDATION_LIMIT
        # botocore's invalidation_completed waiter expects "Completed"; emulators may say
        # "COMPLETED", so poll and compare without case.
        while status.lower() != "completed":
            if time.perf_counter() - t0 >= limit:
                raise OpFailed(f"cloudfront invalidation {inv_id} still {status} after "
                               f"{format_duration(limit)}")
            self.budget.sleep(self.interval)
            status = cf.get_invalidation(DistributionId=op.distribution,
                                         Id=inv_id)["Invalidation"]["Status"]
            yield Output(f"  … {status} after {format_duration(time.perf_counter() - t0)}")
        seconds = time.perf_counter() - t0
        yield Output(f"✓ cloudfront invalidation {inv_id} completed in "
                     f"{format_duration(seconds)}")
        return {"distribution": op.distribution, "invalidation_id": inv_id,
                "paths": list(op.paths), "status": status, "seconds": round(seconds, 3)}

    # -- ALB weights --------------------------------------------------------------------------
    def _traffic(self, op: lang.Traffic) -> Iterator[Output]:
        elb = self.client("elbv2")
        listener = elb.describe_listeners(ListenerArns=[op.listener])["Listeners"][0]
        actions = listener.get("DefaultActions", [])
        idx = next((i for i, a in enumerate(actions) if a.get("Type") == "forward"), None)
        if idx is None:
            raise OpFailed(f"traffic: listener {_short(op.listener)} has no forward action")
        before = _weights(actions[idx])
        names = [n for n, _ in op.weights if not n.startswith("arn:")]
        by_name: dict[str, str] = {}
        if names:
            try:
                groups = elb.describe_target_groups(Names=names)["TargetGroups"]
            except Exception as exc:
                raise OpFailed(self.explain(exc, "traffic: target groups")) from None
            by_name = {g["TargetGroupName"]: g["TargetGroupArn"] for g in groups}
        wanted = {(n if n.startswith("arn:") else by_name[n]): w for n, w in op.weights}
        left_out = [_tg_name(a) for a in before if a not in wanted]
        if left_out:
            raise OpFailed(f"traffic: {', '.join(left_out)} also receives traffic from this "
                           "listener; give every target group a weight (0 to drain it)")
        action = {k: v for k, v in actions[idx].items() if k != "TargetGroupArn"}
        forward = dict(action.get("ForwardConfig") or {})
        forward["TargetGroups"] = [{"TargetGroupArn": a, "Weight": w} for a, w in wanted.items()]
        action["ForwardConfig"] = forward
        new_actions = [*actions[:idx], action, *actions[idx + 1:]]
        elb.modify_listener(ListenerArn=op.listener, DefaultActions=new_actions)
        check = elb.describe_listeners(ListenerArns=[op.listener])["Listeners"][0]
        after = _weights(next(a for a in check["DefaultActions"] if a.get("Type") == "forward"))
        if after != wanted:
            raise OpFailed(f"traffic: the listener reports {_named(after)} after the change, "
                           f"not {_named(wanted)}")
        shown = ", ".join(f"{_tg_name(a)} {before.get(a, 0)}→{w}" for a, w in after.items())
        yield Output(f"✓ traffic {_short(op.listener)}: {shown}")
        return {"listener": op.listener, "before": _named(before), "after": _named(after)}


def etag_of(path: Path, size: int) -> str:
    """The ETag S3 gives an upload of this file by this module: MD5, or the multipart form."""
    with open(path, "rb") as fh:
        if size < PART:
            return hashlib.md5(fh.read(), usedforsecurity=False).hexdigest()
        digests = []
        while chunk := fh.read(PART):
            digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    whole = hashlib.md5(b"".join(digests), usedforsecurity=False).hexdigest()
    return f"{whole}-{len(digests)}"


def _weights(action: Mapping[str, Any]) -> dict[str, int]:
    groups = (action.get("ForwardConfig") or {}).get("TargetGroups")
    if groups:
        return {g["TargetGroupArn"]: int(g.get("Weight", 1)) for g in groups}
    arn = action.get("TargetGroupArn")
    return {arn: 1} if arn else {}


def _tg_name(arn: str) -> str:
    """`arn:...:targetgroup/blue/abc` → `blue`."""
    parts = arn.split(":")[-1].split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "targetgroup" else arn


def _named(weights: Mapping[str, int]) -> dict[str, int]:
    return {_tg_name(a): w for a, w in weights.items()}


def _short(arn: str) -> str:
    """`arn:...:listener/app/web/abc/def` → `listener/app/web/abc/def`."""
    return arn.split(":")[-1]


def _what(op: lang.AwsOp) -> str:
    if isinstance(op, lang.S3Sync):
        return f"s3 sync to bucket {op.bucket}"
    if isinstance(op, (lang.S3Put, lang.S3Get)):
        verb = "put" if isinstance(op, lang.S3Put) else "get"
        return f"s3 {verb} s3://{op.bucket}/{op.key} (bucket {op.bucket})"
    if isinstance(op, lang.Invalidate):
        return f"cloudfront invalidate {op.distribution}"
    return "traffic"
